"""A warm-up reads a prompt into a saved state ahead of the turns that start with it, and gives
way to a real call: it stops after the slice it is reading (llm/llama.py `warm`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

from xiaoer.llm.base import ChatMessage, warm
from xiaoer.llm.gate import GatedLLM, LLMGate
from xiaoer.llm.llama import WARM_SLICE, LlamaLLM
from xiaoer.llm.snapshots import Snapshots


class FakeLlama:
    """One token per byte; `eval` takes 20 ms a call and appends what it read."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.evals = 0

    @property
    def n_tokens(self) -> int:
        return len(self.ids)

    @n_tokens.setter
    def n_tokens(self, n: int) -> None:
        del self.ids[n:]

    @property
    def _input_ids(self) -> list[int]:
        return list(self.ids)

    def token_eos(self) -> int:
        return 0

    def tokenize(self, text: bytes, **_kwargs: Any) -> list[int]:
        return [b % 50 + 1 for b in text]

    def n_ctx(self) -> int:
        return 8192

    def detokenize(self, _ids: list[int], **_kwargs: Any) -> bytes:
        return b""

    def eval(self, tokens: list[int]) -> None:
        time.sleep(0.02)
        self.evals += 1
        self.ids += tokens

    def generate(self, tokens: list[int], **_kwargs: Any) -> Iterator[int]:
        self.ids = list(tokens)
        yield 0


class Kept(Snapshots):
    def _state(self) -> bytes | None:
        return bytes(1)


def _llm() -> tuple[LlamaLLM, FakeLlama]:
    fake = FakeLlama()
    llm = LlamaLLM(fake)
    llm.snapshots = Kept(fake, 4)
    return llm, fake


PROMPT = [ChatMessage("system", "店" * 600)]  # ≈1,800 tokens: 15 slices


async def test_a_warm_up_reads_the_prompt_once_and_keeps_it() -> None:
    llm, fake = _llm()
    read = await warm(GatedLLM(llm, LLMGate(1)), PROMPT, [])
    assert read == len(fake.ids) > 12 * WARM_SLICE and fake.evals == -(-read // WARM_SLICE)
    assert len(llm.snapshots.saved) == 1
    assert await llm.warm(PROMPT, []) == 0  # already held
    # the call that starts with it reads only what follows
    done = await llm.complete([*PROMPT, ChatMessage("user", "在吗")], [], mode="auto")
    assert done.cached_tokens == read


async def test_a_warm_up_gives_way_to_a_call_within_a_slice() -> None:
    llm, fake = _llm()
    warming = asyncio.create_task(llm.warm(PROMPT, []))
    await asyncio.sleep(0.05)  # a slice or two read
    started = time.perf_counter()
    done = await llm.complete([ChatMessage("user", "在吗")], [], mode="auto")
    waited = time.perf_counter() - started
    read = await warming
    assert 0 < read < len(llm._tokens(PROMPT, [])) and done.tokens_in > 0
    assert waited < 0.2  # one slice (20 ms here), not the whole prompt (15 slices)
