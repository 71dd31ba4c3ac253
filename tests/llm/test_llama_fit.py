"""A prompt longer than the embedded model's context is made to fit — older exchanges first,
then the longest tool results — instead of failing the turn."""

from __future__ import annotations

from typing import Any

import pytest

from xiaoer.domain.errors import UpstreamError
from xiaoer.llm.base import ChatMessage, ToolCall
from xiaoer.llm.llama import MIN_RESULT_CHARS, LlamaLLM


class CountingLlama:
    """One token per character of the rendered prompt; a context of `ctx` tokens."""

    def __init__(self, ctx: int) -> None:
        self.ctx = ctx

    def tokenize(self, text: bytes, **_kwargs: Any) -> list[int]:
        return [1] * len(text.decode())

    def n_ctx(self) -> int:
        return self.ctx

    def token_eos(self) -> int:
        return 0


def _conversation(result: str) -> list[ChatMessage]:
    call = ToolCall("c1", "get_product", {"product_id": "P1"})
    return [
        ChatMessage("system", "你是店小二。"),
        ChatMessage("user", "第一个问题" * 40),
        ChatMessage("assistant", "第一个回答" * 40),
        ChatMessage("user", "第二个问题" * 40),
        ChatMessage("assistant", "", tool_calls=(call,)),
        ChatMessage("tool", "旧的结果" * 60, tool_call_id="c1"),
        ChatMessage("assistant", "第二个回答" * 40),
        ChatMessage("user", "现在的问题"),
        ChatMessage("assistant", "", tool_calls=(call,)),
        ChatMessage("tool", result, tool_call_id="c1"),
    ]


def test_a_prompt_that_fits_is_left_as_it_is() -> None:
    llm = LlamaLLM(CountingLlama(100_000))
    messages = _conversation("结果" * 100)
    kept, tokens = llm._fit(messages, [], 100_000)
    assert kept == messages and len(tokens) > 0


def test_older_exchanges_go_first_then_the_longest_result_is_cut() -> None:
    messages = _conversation("这次的结果" * 300)
    whole = len(LlamaLLM(CountingLlama(10**6))._fit(messages, [], 10**6)[1])
    room = whole - 1500  # the two older exchanges (~1,400 characters) are not enough
    kept, tokens = LlamaLLM(CountingLlama(room))._fit(messages, [], room)
    assert len(tokens) <= room
    assert [m.role for m in kept] == ["system", "user", "assistant", "tool"]
    assert kept[1].content == "现在的问题"
    assert kept[-1].content.endswith("…（后面省略）")
    assert len(kept[-1].content) < 1500


def test_what_cannot_be_cut_further_is_an_error() -> None:
    messages = [ChatMessage("system", "规则" * 500), ChatMessage("user", "你好")]
    with pytest.raises(UpstreamError, match="does not fit"):
        LlamaLLM(CountingLlama(200))._fit(messages, [], 200)
    short = _conversation("短" * MIN_RESULT_CHARS)
    with pytest.raises(UpstreamError):
        LlamaLLM(CountingLlama(300))._fit(short, [], 300)
