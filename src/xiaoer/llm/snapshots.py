"""Saved KV states of earlier prompts, so switching between prompts does not re-read them.

llama.cpp keeps the KV cache of one prompt only: the last one. When calls alternate between
prompts — two shops, the agent and the guard's judge, the agent and an LLM-played shopper —
every switch re-evaluates the whole shared prefix (≈2,100 tokens, 40 s on two cores). After
each call the sequence's KV state is copied out (≈29 KB per token for the 1.5B model); before
a call, the saved state sharing the longest prefix with the new prompt is copied back in when
it beats what the live cache already holds. Only the KV cells are saved, not the logits, so a
restore is always followed by decoding at least one token (llama-cpp-python's `generate`
replays the last prompt token when the whole prompt is cached).
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any

# a restore costs a copy of the state; below this many extra tokens, re-reading is as cheap
MIN_GAIN = 128
SIZE = 20
"""States kept by default (`XIAOER_LLM_SNAPSHOTS`): ≈60 MB each at 2,000 tokens. A shop's
warm-up (`Assistant.warm`) keeps one per tool set a turn can be offered (7) and one for the
understanding step: two shops' warm prefixes and their conversations fit."""


@dataclass
class Snapshot:
    ids: list[int]
    blob: bytes


def common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class Snapshots:
    """At most `size` saved states; a new one first replaces the least recently used of its
    own prompt family (`_victim`). Not thread-safe: the caller serializes calls (one model
    instance serves one call at a time)."""

    def __init__(self, llama: Any, size: int = SIZE) -> None:
        self.llama = llama
        self.size = size
        self.saved: list[Snapshot] = []  # most recently used last
        self.restores = 0

    def _live(self) -> list[int]:
        return list(self.llama._input_ids)

    def restore(self, tokens: list[int]) -> int:
        """Bring in the saved state that covers most of `tokens` if it beats the live cache;
        returns the number of prompt tokens the cache now covers."""
        live = common_prefix(self._live(), tokens)
        best, gain = None, 0
        for snap in self.saved:
            n = common_prefix(snap.ids, tokens)
            if n - live > gain:
                best, gain = snap, n - live
        if best is None or gain < MIN_GAIN:
            return live
        ctx = self.llama._ctx
        ctx.kv_cache_seq_rm(0, 0, -1)
        buf = (ctypes.c_uint8 * len(best.blob)).from_buffer_copy(best.blob)
        if not self._set(ctx.ctx, buf, len(best.blob)):
            ctx.kv_cache_seq_rm(0, 0, -1)
            self.llama.n_tokens = 0
            return 0
        n = len(best.ids)
        self.llama.input_ids[:n] = best.ids
        self.llama.n_tokens = n
        self.llama._requires_eval = True
        self.saved.remove(best)
        self.saved.append(best)
        self.restores += 1
        return common_prefix(best.ids, tokens)

    def save(self) -> None:
        """Keep the live state; states it extends are dropped (it covers them)."""
        ids = self._live()
        if not ids or self.size <= 0:
            return
        blob = self._state()
        if blob is None:
            return
        self.saved = [s for s in self.saved if common_prefix(s.ids, ids) < len(s.ids)]
        self.saved.append(Snapshot(ids, blob))
        while len(self.saved) > self.size:
            self.saved.remove(self._victim(ids))

    def _state(self) -> bytes | None:
        """The live sequence's KV cells, copied out of llama.cpp."""
        import llama_cpp

        ctx = self.llama._ctx.ctx
        size = llama_cpp.llama_state_seq_get_size(ctx, 0)
        buf = (ctypes.c_uint8 * size)()
        n = llama_cpp.llama_state_seq_get_data(ctx, buf, size, 0)
        return bytes(buf)[:n] if n else None

    def _victim(self, ids: list[int]) -> Snapshot:
        """The state to drop: of the prompt family just saved (states sharing at least
        `MIN_GAIN` tokens with it), the one sharing the most with it — what it holds beyond
        that is least likely to be asked for again, and the new state covers the rest — the
        least recently used on a tie; with no other of that family kept, the least recently
        used of all.

        Seen: a turn of three agent calls pushed the understanding step's state out of four,
        and the next turn read its 744 tokens again (8 s); and one shop's states with one tool
        set pushed out its state with another, whose next turn re-read 300–1,000 tokens."""
        family = [(common_prefix(s.ids, ids), -i, s) for i, s in enumerate(self.saved[:-1])]
        family = [f for f in family if f[0] >= MIN_GAIN]
        return max(family)[2] if family else self.saved[0]

    @staticmethod
    def _set(ctx: Any, buf: Any, size: int) -> bool:
        import llama_cpp

        return bool(llama_cpp.llama_state_seq_set_data(ctx, buf, size, 0))
