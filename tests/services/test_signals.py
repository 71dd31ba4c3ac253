"""Live-stream wake-ups (`services.signals`): a commit that stores a message wakes the shop's
and the conversation's streams; a rollback or a read wakes nobody; with Redis, a commit in one
process wakes a stream in another (two runtimes on one store, as an API worker and a turn
worker are)."""

from __future__ import annotations

import asyncio

from conftest import NOW
from xiaoer.config import Settings
from xiaoer.llm.scripted import ScriptedLLM
from xiaoer.runtime import Runtime
from xiaoer.services.signals import Signals, conversation_topic, shop_topic
from xiaoer.store.repositories import ConversationRepository


async def _conversation(rt: Runtime, cid: str = "cv_1") -> None:
    async with rt.sessions() as s:
        await ConversationRepository(s, "mini").create(cid, "U1", "api", NOW)
        await s.commit()


async def _message(rt: Runtime, cid: str = "cv_1", *, commit: bool = True) -> None:
    async with rt.sessions() as s:
        await ConversationRepository(s, "mini").add_message(cid, "shopper", "在吗", NOW)
        if commit:
            await s.commit()


async def test_a_stored_message_wakes_its_shop_and_conversation(runtime: Runtime) -> None:
    await _conversation(runtime)
    await _conversation(runtime, "cv_2")
    shop, mine, other = (
        runtime.signals.take(shop_topic("mini")),
        runtime.signals.take(conversation_topic("cv_1")),
        runtime.signals.take(conversation_topic("cv_2")),
    )
    await _message(runtime, commit=False)  # rolled back: nothing happened
    async with runtime.sessions() as s:  # a read
        await ConversationRepository(s, "mini").messages("cv_1")
    assert not (shop.is_set() or mine.is_set() or other.is_set())
    await _message(runtime)
    assert shop.is_set() and mine.is_set() and not other.is_set()
    again = runtime.signals.take(shop_topic("mini"))  # a signal wakes once
    assert again is not shop and not again.is_set()


async def test_with_redis_a_commit_in_one_process_wakes_a_stream_in_another(
    runtime: Runtime, settings: Settings, redis_url: str
) -> None:
    with_redis = settings.model_copy(update={"redis_url": redis_url})
    api = await Runtime.open(with_redis, llm=ScriptedLLM())  # serves the stream
    worker = await Runtime.open(with_redis, llm=ScriptedLLM())  # runs the turn
    try:
        await _conversation(worker)
        signal = api.signals.take(conversation_topic("cv_1"))
        await asyncio.sleep(0.3)  # the API's subscription is up
        await _message(worker)
        assert await api.signals.wait(signal, 3.0)
        # without Redis, the other process is not told (its stream reads every 2 s instead)
        alone = runtime.signals.take(conversation_topic("cv_1"))
        await _message(worker)
        assert not await runtime.signals.wait(alone, 0.5)
    finally:
        await api.close()
        await worker.close()


def test_a_stream_that_ends_unwoken_leaves_nothing_behind() -> None:
    """A widget stream on a conversation nobody writes to again, a console page closed: its
    topic is forgotten with its stream, not kept for the life of the process."""
    import gc

    signals = Signals()
    held = signals.take(conversation_topic("cv_kept"))
    for i in range(1000):
        signals.take(conversation_topic(f"cv_{i}"))  # each stream gone at once
    gc.collect()
    assert list(signals._waiting) == [conversation_topic("cv_kept")]
    signals.send([conversation_topic("cv_kept")])
    assert held.is_set() and not signals._waiting
