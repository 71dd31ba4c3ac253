"""An answer asked for in text that the embedded model ends before its first token is asked
again, under a grammar whose first character is one a reader sees."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fake_llama import FakeTokens, NoSnapshots
from xiaoer.llm.base import ChatMessage
from xiaoer.llm.llama import LlamaLLM


class SilentLlama(FakeTokens):
    """Ends at once (token 0, the end of text) unless a grammar holds it to saying something."""

    def __init__(self) -> None:
        self.grammars: list[Any] = []

    def generate(self, _tokens: list[int], **kwargs: Any) -> Iterator[int]:
        self.grammars.append(kwargs.get("grammar"))
        if kwargs.get("grammar") is not None:
            yield from (7, 7)
        yield 0


def _llm() -> tuple[LlamaLLM, SilentLlama]:
    fake = SilentLlama()
    llm = LlamaLLM(fake)
    llm.snapshots = NoSnapshots()  # type: ignore[assignment]  # no llama.cpp state to keep
    return llm, fake


async def test_an_empty_text_answer_is_asked_again_and_says_something() -> None:
    """Seen on the tuned suite: an answer asked for after a lookup code made came back empty
    twice, and the shopper was handed over for a question the lookup answered."""
    llm, fake = _llm()
    out = await llm.complete([ChatMessage("user", "有券吗")], [], mode="text")
    assert out.content == "好好" and out.tokens_out == 2
    assert fake.grammars[0] is None and fake.grammars[1] is not None
    once = await _llm()[0].complete([ChatMessage("user", "有券吗")], [], mode="auto")
    assert out.tokens_in == 2 * once.tokens_in  # both reads are counted


async def test_an_empty_answer_in_another_mode_is_left_to_the_caller() -> None:
    llm, fake = _llm()
    out = await llm.complete([ChatMessage("user", "有券吗")], [], mode="auto")
    assert out.content == "" and fake.grammars == [None]
