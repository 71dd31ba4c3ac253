"""A cancelled embedded-model call (a turn's deadline) stops its generation thread before the
next call may start: llama.cpp must never run two generations on one context at once."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

from fake_llama import FakeTokens, NoSnapshots
from xiaoer.llm.base import ChatMessage, ToolSpec
from xiaoer.llm.llama import LlamaLLM


class FakeLlama(FakeTokens):
    """Generates token 7 every 5 ms, forever; counts generations running at once."""

    def __init__(self) -> None:
        self.running = 0
        self.most = 0
        self.made = 0
        self._lock = threading.Lock()

    def generate(self, _tokens: list[int], **_kwargs: Any) -> Iterator[int]:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            while True:
                time.sleep(0.005)
                self.made += 1
                yield 7
        finally:
            with self._lock:
                self.running -= 1


async def test_a_cancelled_call_stops_its_thread_before_the_next_call() -> None:
    fake = FakeLlama()
    llm = LlamaLLM(fake)
    llm.snapshots = NoSnapshots()  # type: ignore[assignment]  # no llama.cpp state to keep
    messages = [ChatMessage("user", "你好")]
    with_deadline = asyncio.create_task(llm.complete(messages, [], mode="text", max_tokens=4000))
    await asyncio.sleep(0.1)
    with_deadline.cancel()
    nxt = await asyncio.wait_for(llm.complete(messages, [], mode="text", max_tokens=3), 5)
    assert nxt.content == "好好好"
    assert with_deadline.cancelled() and fake.most == 1 and fake.running == 0
    made = fake.made
    await asyncio.sleep(0.05)
    assert fake.made == made  # nothing is still generating


class FormLlama(FakeLlama):
    """Reads one token per character and scores 否 highest; each batch takes 20 ms."""

    def __init__(self) -> None:
        super().__init__()
        self._input_ids: list[int] = []
        self.n_tokens = 0
        self.batches = 0
        self._ctx = self

    def tokenize(self, text: bytes, **_kwargs: Any) -> list[int]:
        return [ord(c) for c in text.decode()]

    def eval(self, tokens: list[int]) -> None:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.02)
        self.batches += 1
        with self._lock:
            self.running -= 1

    def get_logits_ith(self, _i: int) -> dict[int, float]:
        return {ord("否"): 1.0, ord("是"): 0.5}


FORM = ToolSpec(
    "understand",
    "写下顾客这条消息的意思。",
    {"type": "object", "properties": {f"问{i}": {"enum": ["是", "否"]} for i in range(40)},
     "required": [f"问{i}" for i in range(40)]},
)  # fmt: skip


async def test_a_form_of_fixed_choices_is_filled_one_batch_per_decision() -> None:
    fake = FormLlama()
    llm = LlamaLLM(fake)
    llm.snapshots = NoSnapshots()  # type: ignore[assignment]
    done = await llm.complete([ChatMessage("user", "你好")], [FORM], mode="call")
    [call] = done.tool_calls
    assert call.name == "understand" and set(call.arguments.values()) == {"否"}
    assert fake.batches == 40  # one per field: the fixed text rides with each decision


async def test_a_cancelled_form_stops_before_the_next_call() -> None:
    fake = FormLlama()
    llm = LlamaLLM(fake)
    llm.snapshots = NoSnapshots()  # type: ignore[assignment]
    form = asyncio.create_task(llm.complete([ChatMessage("user", "你好")], [FORM], mode="call"))
    await asyncio.sleep(0.1)
    form.cancel()
    nxt = await asyncio.wait_for(
        llm.complete([ChatMessage("user", "你好")], [], mode="text", max_tokens=3), 5
    )
    assert nxt.content == "好好好" and form.cancelled()
    assert fake.most == 1 and fake.batches < 40
