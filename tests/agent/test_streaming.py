"""A reply streamed sentence by sentence under the output guard (agent/streaming.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from minishop import write_bundle
from xiaoer.agent.events import Event, TextDelta
from xiaoer.agent.streaming import GuardedStream
from xiaoer.config import Settings
from xiaoer.llm.scripted import ScriptedLLM, call, say
from xiaoer.runtime import Runtime


async def test_sentences_are_sent_once_complete_and_checked_and_none_after_a_failing_one() -> None:
    sent: list[TextDelta] = []
    checked: list[str] = []

    async def emit(event: Event) -> None:
        assert isinstance(event, TextDelta)
        sent.append(event)

    async def check(sentence: str) -> bool:
        checked.append(sentence)
        return "350" not in sentence

    stream = GuardedStream(check, emit)
    stream.restart()
    for piece in (
        "您的包裹",
        "在杭州，价格¥49.90",
        "。顺丰",
        "SF1。\n退款 350 元",
        "已到账。最后一句",
    ):
        await stream.feed(piece)
    # the point of ¥49.90 ends nothing; the failing sentence and everything after it wait
    assert [d.text for d in sent] == ["您的包裹在杭州，价格¥49.90。", "顺丰SF1。\n"]
    assert checked[-1] == "退款 350 元已到账。" and stream.stopped
    await stream.feed("又一句。")
    assert len(sent) == 2
    # the reply as checked continues what was sent: only the rest follows
    await stream.finish("您的包裹在杭州，价格¥49.90。顺丰SF1。\n另外的结尾。")
    assert sent[-1] == TextDelta("另外的结尾。")
    # a reply that does not continue it replaces it
    await stream.finish("您好，我帮您转人工。")
    assert sent[-1] == TextDelta("您好，我帮您转人工。", reset=True)


async def test_a_check_that_fails_stops_the_stream_not_the_turn() -> None:
    sent: list[str] = []

    async def emit(event: Event) -> None:
        sent.append(event.text)  # type: ignore[union-attr]

    async def check(sentence: str) -> bool:
        if "坏" in sentence:
            raise RuntimeError("boom")
        return True

    stream = GuardedStream(check, emit)
    await stream.feed("好的一句。坏的一句。后面一句。")
    assert sent == ["好的一句。"] and stream.stopped
    await stream.finish("好的一句。坏的一句。后面一句。")
    assert sent[-1] == "坏的一句。后面一句。"


async def test_a_second_answer_is_not_streamed_after_a_first_one_was_shown() -> None:
    sent: list[str] = []

    async def emit(event: Event) -> None:
        sent.append(event.text)  # type: ignore[union-attr]

    async def check(_sentence: str) -> bool:
        return True

    stream = GuardedStream(check, emit)
    await stream.feed("第一句。半句")
    stream.restart()
    await stream.feed("另一个回答。")
    assert sent == ["第一句。"]
    empty = GuardedStream(check, emit)
    await empty.finish("整句回复。")  # nothing streamed: the reply whole
    assert sent[-1] == "整句回复。"


@pytest.fixture
async def guarded(settings: Settings, llm: ScriptedLLM, tmp_path: Path) -> AsyncIterator[Runtime]:
    rt = await Runtime.open(settings.model_copy(update={"guard": True}), llm=llm)
    await rt.import_shop(write_bundle(tmp_path / "bundle"))
    yield rt
    await rt.close()


async def _parcel_turn(rt: Runtime, llm: ScriptedLLM, *answers: str) -> tuple[Any, list[TextDelta]]:
    """ "SO1001 到哪了" answered with the parcel tracked, then `answers`: the turn and what was
    streamed of it."""
    deltas: list[TextDelta] = []

    async def emit(event: Event) -> None:
        if isinstance(event, TextDelta):
            deltas.append(event)

    llm.steps = [call("track_logistics", order_id="SO1001"), *(say(a) for a in answers)]
    return await rt.assistant().turn("mini", "U1", "SO1001 到哪了", emit=emit), deltas


async def test_a_checked_answer_streams_by_sentence_and_a_rewrite_replaces_it(
    guarded: Runtime, llm: ScriptedLLM
) -> None:
    r, deltas = await _parcel_turn(
        guarded, llm, "您的包裹在杭州转运中心。快递是顺丰 SF1234567890。"
    )
    assert [d.text for d in deltas] == ["您的包裹在杭州转运中心。", "快递是顺丰 SF1234567890。"]
    assert "".join(d.text for d in deltas) == r.reply and not any(d.reset for d in deltas)

    r, deltas = await _parcel_turn(
        guarded, llm, "您的包裹在杭州转运中心。退款 350 元明天到账。",
        "您的包裹在杭州转运中心，顺丰 SF1234567890。",
    )  # fmt: skip
    # the first sentence passed alone and was sent; the second did not; the rewrite replaces it
    assert deltas[0] == TextDelta("您的包裹在杭州转运中心。")
    assert deltas[-1] == TextDelta(r.reply, reset=True)
    assert "350" not in "".join(d.text for d in deltas)
    assert r.reply == "您的包裹在杭州转运中心，顺丰 SF1234567890。"


async def test_a_copy_of_the_answer_note_is_never_streamed(
    guarded: Runtime, llm: ScriptedLLM
) -> None:
    """Seen in the demo: the answer began with the note's own line, "顾客的问题：…", which was
    streamed to the shopper before the reply was cleaned of it."""
    r, deltas = await _parcel_turn(
        guarded, llm, "顾客的问题：SO1001 到哪了\n您的包裹在杭州转运中心。"
    )
    assert r.reply == "您的包裹在杭州转运中心。"
    assert "顾客的问题" not in "".join(d.text for d in deltas)
    assert deltas[-1].text == r.reply


async def test_a_sentence_said_again_is_not_streamed() -> None:
    sent: list[str] = []

    async def emit(event: Event) -> None:
        sent.append(event.text)  # type: ignore[union-attr]

    async def check(sentence: str) -> bool:
        return True

    stream = GuardedStream(check, emit)
    await stream.feed("包裹在乙中转场。包裹在乙中转场。还有一句。")
    assert sent == ["包裹在乙中转场。"] and stream.stopped
    # the backend returns the reply cut at the repeat: it continues what was sent, nothing reset
    await stream.finish("包裹在乙中转场。")
    assert sent == ["包裹在乙中转场。"]
