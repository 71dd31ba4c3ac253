"""The embedded LLM: a GGUF model run by llama.cpp on the CPU.

One model instance serves one call at a time (an asyncio lock); generation runs in a worker
thread and streams text back to the event loop. llama.cpp keeps the KV cache of the previous
prompt, so a call whose prompt starts like the last one only evaluates the new tail — that is
why the prompt is rendered byte-stably (`chatml.py`) and histories are append-only. Calls that
switch between prompts (two shops, the agent and the guard's judge) get their earlier states
back from `snapshots.py` instead of re-reading them.

Special tokens are decoded by us (`detokenize(special=True)`): llama-cpp-python's own text
output drops `<tool_call>`. Text streams to `on_text` only once the opening shows it is not a
tool call; a call is parsed tolerantly at the end (`parse.py`). `mode="call"` constrains the
output with a JSON-schema grammar over the offered tools — except a call whose every field is
a fixed choice (the understanding step's form), which `form.py` fills in with one model step
per decision instead of one per token; `mode="text"` parses no call (a text grammar halved
generation speed, 13 → 8 tok/s, so the caller handles call-shaped text).
"""

from __future__ import annotations

import asyncio
import codecs
import json
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from xiaoer.domain.errors import UpstreamError
from xiaoer.llm.base import ChatMessage, Completion, Mode, OnText, ToolSpec
from xiaoer.llm.chatml import IM_START, render
from xiaoer.llm.form import Fields, choice_fields, fill
from xiaoer.llm.loops import cut_repeats, ends_sentence, repeat_start
from xiaoer.llm.parse import calls_in_text, looks_like_call
from xiaoer.llm.snapshots import SIZE, Snapshots

_OPENERS = ("{", "`", "<", "[")
MIN_RESULT_CHARS = 200
"""A tool result is not cut below this many characters to make a prompt fit."""
SAID = r"""root ::= [^\x00-\x20{`<\[] [^\x00]*"""
"""Text whose first character is one a reader sees and no call's opening (`_OPENERS`)."""
WARM_SLICE = 128
"""Prompt tokens a warm-up reads between looks for a real call waiting (≈1.5 s on two cores)."""


class LlamaLLM:
    """`LLM` over llama-cpp-python. Build with `LlamaLLM.load(path)`."""

    serves_at_once = 1
    """One call at a time (`llm/gate.py` keeps the rest in line)."""

    def __init__(
        self,
        llama: Any,
        *,
        name: str = "qwen2.5-coder-1.5b-instruct-q4_k_m",
        snapshots: int = SIZE,
    ) -> None:
        self.llama = llama
        self.name = name
        self._lock = asyncio.Lock()
        self._asking = 0
        """Calls waiting for, or holding, the model."""
        self._stop_ids = {
            llama.token_eos(),
            *llama.tokenize(b"<|im_end|>", add_bos=False, special=True),
            *llama.tokenize(b"<|im_start|>", add_bos=False, special=True),
            *llama.tokenize(b"<|endoftext|>", add_bos=False, special=True),
        }
        self.load_seconds = 0.0
        self.snapshots = Snapshots(llama, snapshots)

    @classmethod
    def load(
        cls, path: Path, *, n_ctx: int = 4096, threads: int = 2, snapshots: int = SIZE
    ) -> LlamaLLM:
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise UpstreamError(
                "the embedded model needs llama-cpp-python: run `make install` "
                "or point XIAOER_LLM_BASE_URL at an OpenAI-compatible endpoint"
            ) from exc
        started = time.perf_counter()
        llama = Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_threads=threads,
            n_threads_batch=threads,
            n_batch=512,
            verbose=False,
        )
        llm = cls(llama, snapshots=snapshots)
        llm.load_seconds = time.perf_counter() - started
        return llm

    def _grammar(self, mode: Mode, tools: Sequence[ToolSpec], *, said: bool = False) -> Any:
        """The call grammar (mode `call`); with `said`, text that starts with a character a
        reader sees (not a call's opening); else none."""
        from llama_cpp import LlamaGrammar

        if said:
            return LlamaGrammar.from_string(SAID, verbose=False)
        if mode == "call" and tools:
            schema = {
                "anyOf": [
                    {
                        "type": "object",
                        "properties": {"name": {"const": t.name}, "arguments": t.parameters},
                        "required": ["name", "arguments"],
                    }
                    for t in tools
                ]
            }
            return LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
        return None

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolSpec],
        *,
        mode: Mode = "auto",
        max_tokens: int = 384,
        on_text: OnText | None = None,
    ) -> Completion:
        _, tokens = self._fit(messages, tools, self.llama.n_ctx() - max_tokens)
        form = choice_fields(tools[0].parameters) if mode == "call" and len(tools) == 1 else None
        self._asking += 1  # a warm-up under way gives way (`warm`)
        try:
            async with self._lock:
                if form is not None:
                    return await self._fill(tokens, tools[0], form)
                out = await self._generate(tokens, tools, mode, max_tokens, on_text)
                if mode == "text" and not out.raw.strip():
                    # Greedy decoding may end an answer before its first token (seen on the
                    # tuned suite: an answer asked for after a lookup code made came back empty,
                    # twice, and the shopper was handed over): asked again, it must say something.
                    again = await self._generate(tokens, tools, mode, max_tokens, on_text,
                                                 said=True)  # fmt: skip
                    return replace(
                        again,
                        tokens_in=out.tokens_in + again.tokens_in,
                        cached_tokens=out.cached_tokens + again.cached_tokens,
                        tokens_out=out.tokens_out + again.tokens_out,
                    )
                return out
        finally:
            self._asking -= 1

    async def warm(self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]) -> int:
        """Read a prompt's tokens into a saved state (`snapshots.py`) ahead of the turns that
        start with it, so that the first of them does not read them (`Assistant.warm`).

        It gives way: between slices of `WARM_SLICE` tokens it stops as soon as a real call
        waits (what it read so far is kept), so a shopper waits for one slice at most."""
        # up to where the next message starts: not the open assistant turn a call ends with
        prompt = render(messages, tools).removesuffix(f"{IM_START}assistant\n")
        tokens = self.llama.tokenize(prompt.encode(), add_bos=False, special=True)
        tokens = tokens[: self.llama.n_ctx()]
        stop = threading.Event()

        def work() -> int:
            cached = self.snapshots.restore(tokens)
            self.llama.n_tokens = at = min(cached, len(tokens))
            while at < len(tokens) and not (stop.is_set() or self._asking):
                self.llama.eval(tokens[at : at + WARM_SLICE])
                at = self.llama.n_tokens
            if at > cached:
                self.snapshots.save()
            return at - cached

        async with self._lock:
            worker = asyncio.create_task(asyncio.to_thread(work))
            try:
                return await asyncio.shield(worker)
            except asyncio.CancelledError:
                stop.set()  # the thread ends within a slice, before the lock is let go
                await asyncio.wait([worker])
                raise
            except Exception as exc:
                raise UpstreamError(f"the embedded model failed: {exc}") from exc

    def _tokens(self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]) -> list[int]:
        prompt = render(messages, tools)
        return self.llama.tokenize(prompt.encode(), add_bos=False, special=True)

    def _fit(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec], room: int
    ) -> tuple[list[ChatMessage], list[int]]:
        """The prompt and its tokens, made to fit `room` when they do not (seen: 4,327 tokens after a
        turn's third lookup, and the turn failed): first the oldest exchanges before the
        shopper's latest message go, then the longest tool results are cut by half in turn
        down to `MIN_RESULT_CHARS`. What still does not fit is an error."""
        kept = list(messages)
        tokens = self._tokens(kept, tools)
        if len(tokens) <= room:
            return kept, tokens
        head = next((i for i, m in enumerate(kept) if m.role != "system"), len(kept))
        last_user = max((i for i, m in enumerate(kept) if m.role == "user"), default=head)
        while len(tokens) > room and last_user > head:
            # one exchange: from its shopper message to the next one
            end = next(
                (i for i in range(head + 1, last_user + 1) if kept[i].role == "user"), last_user
            )
            del kept[head:end]
            last_user -= end - head
            tokens = self._tokens(kept, tools)
        while len(tokens) > room:
            results = [i for i, m in enumerate(kept) if m.role == "tool"]
            longest = max(results, key=lambda i: len(kept[i].content), default=None)
            if longest is None or len(kept[longest].content) <= MIN_RESULT_CHARS:
                raise UpstreamError(
                    f"prompt of {len(tokens)} tokens does not fit the {room}-token room"
                )
            text = kept[longest].content
            cut = text[: max(MIN_RESULT_CHARS, len(text) // 2)] + "…（后面省略）"
            kept[longest] = replace(kept[longest], content=cut)
            tokens = self._tokens(kept, tools)
        return kept, tokens

    async def _generate(
        self,
        tokens: list[int],
        tools: Sequence[ToolSpec],
        mode: Mode,
        max_tokens: int,
        on_text: OnText | None,
        *,
        said: bool = False,
    ) -> Completion:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        cached = 0
        grammar = self._grammar(mode, tools, said=said)
        started = time.perf_counter()
        out_ids: list[int] = []
        cancel = threading.Event()

        def work() -> None:
            nonlocal cached
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            written = ""
            cached = self.snapshots.restore(tokens)
            try:
                gen = self.llama.generate(
                    tokens,
                    top_k=1,
                    top_p=1.0,
                    min_p=0.0,
                    temp=0.0,
                    repeat_penalty=1.0,
                    grammar=grammar,
                )
                for token in gen:
                    if token in self._stop_ids or cancel.is_set():
                        break
                    out_ids.append(token)
                    piece = decoder.decode(self.llama.detokenize([token], special=True))
                    if piece:
                        loop.call_soon_threadsafe(queue.put_nowait, piece)
                        written += piece
                    if len(out_ids) >= max_tokens:
                        break
                    if ends_sentence(piece) and (mode == "text" or not looks_like_call(written)):
                        if repeat_start(written) is not None:
                            break  # a loop (`loops.py`): what follows would say it again
                self.snapshots.save()
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, None)

        worker = asyncio.create_task(asyncio.to_thread(work))
        try:
            text, ttft = await self._pump(queue, on_text, started, mode)
        except BaseException:
            # Cancelled (a turn's deadline): stop the thread before the lock is let go, or the
            # next call would run llama.cpp on the same context at the same time.
            cancel.set()
            await asyncio.wait([worker])
            raise
        try:
            await worker
        except Exception as exc:  # llama.cpp failures surface as one clear upstream error
            raise UpstreamError(f"the embedded model failed: {exc}") from exc
        finally:
            cancel.set()
        return self._finish(text, tools, mode, len(tokens), len(out_ids), cached, ttft)

    async def _fill(self, tokens: list[int], tool: ToolSpec, fields: Fields) -> Completion:
        """A call whose every field is a fixed choice (`form.py`): only the decisions decode."""
        cancel = threading.Event()

        def work() -> Completion:
            cached = self.snapshots.restore(tokens)  # the prompt tokens the live cache covers
            # they stay; at least the prompt's last token is read again, for its logits
            keep = min(cached, len(tokens) - 1)
            self.llama.n_tokens = keep
            model = _FormModel(self.llama, tokens[keep:])
            filled = fill(model, tool.name, fields, stop=cancel.is_set)
            self.snapshots.save()
            return self._finish(
                filled.text, [tool], "call", len(tokens), filled.tokens, cached, None
            )

        worker = asyncio.create_task(asyncio.to_thread(work))
        try:
            return await asyncio.shield(worker)
        except asyncio.CancelledError:
            cancel.set()  # as in _generate: the thread stops before the lock is let go
            await asyncio.wait([worker])
            if not worker.cancelled():
                worker.exception()  # retrieved: a stopped fill ends in InterruptedError
            raise
        except Exception as exc:
            raise UpstreamError(f"the embedded model failed: {exc}") from exc

    async def _pump(
        self, queue: asyncio.Queue[str | None], on_text: OnText | None, started: float, mode: Mode
    ) -> tuple[str, int | None]:
        text = ""
        streaming = False
        decided = mode == "call"  # a forced call never streams
        ttft: int | None = None
        while (piece := await queue.get()) is not None:
            text += piece
            if not decided and text.strip():
                decided = True
                streaming = on_text is not None and not text.lstrip().startswith(_OPENERS)
                if streaming and on_text is not None:
                    ttft = int((time.perf_counter() - started) * 1000)
                    await on_text(text.lstrip())
                continue
            if streaming and on_text is not None:
                await on_text(piece)
        return text, ttft

    def _finish(
        self,
        text: str,
        tools: Sequence[ToolSpec],
        mode: Mode,
        n_in: int,
        n_out: int,
        cached: int,
        ttft: int | None,
    ) -> Completion:
        calls = [] if mode == "text" else calls_in_text(text, tools)
        content = "" if calls else cut_repeats(text.strip())
        return Completion(
            content=content,
            tool_calls=calls,
            tokens_in=n_in,
            tokens_out=n_out,
            cached_tokens=cached,
            ttft_ms=ttft,
            raw=text,
        )


class _FormModel:
    """`form.Model` over a llama-cpp-python context: the prompt's unread tail goes in with the
    first batch."""

    def __init__(self, llama: Any, unread: list[int]) -> None:
        self.llama = llama
        self.unread = list(unread)

    def tokenize(self, text: str) -> list[int]:
        return self.llama.tokenize(text.encode(), add_bos=False, special=False)

    def append(self, tokens: Sequence[int]) -> None:
        self.llama.eval([*self.unread, *tokens])
        self.unread = []

    def best(self, candidates: Sequence[int]) -> int:
        logits = self.llama._ctx.get_logits_ith(-1)  # the last token's row, as a float pointer
        return max(candidates, key=lambda t: logits[t])
