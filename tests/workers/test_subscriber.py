"""The API process's one pub/sub connection for the turns' event channels (`Subscriber`): every
turn hears its own channel over it, a resend that joins a turn hears the same, nothing stays
subscribed after, and a lost connection fails the turns waiting on it, not the next ones.
Real Redis (`redis_url`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from xiaoer.workers.turns import Subscriber, _Lost


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


async def _subscribed(redis: Redis, channel: str) -> int:
    return int(dict(await redis.pubsub_numsub(channel)).get(channel.encode(), 0))


async def _get(queue: asyncio.Queue[Any]) -> Any:
    return await asyncio.wait_for(queue.get(), 5)


async def test_twenty_turns_hear_their_own_channels_over_one_connection(
    redis: Redis, redis_url: str
) -> None:
    own = Redis.from_url(redis_url, client_name="subscriber-under-test")
    events = Subscriber(lambda: _ready(own))

    async def connections() -> int:
        return sum(c["name"] == "subscriber-under-test" for c in await redis.client_list())

    async def turn(i: int) -> Any:
        async with events.channel(f"t:sub:{i}") as queue:
            await redis.publish(f"t:sub:{i}", f"answer {i}")
            return await _get(queue)

    heard = await asyncio.gather(*(turn(i) for i in range(20)))
    assert heard == [f"answer {i}".encode() for i in range(20)]
    assert await connections() == 1
    for _ in range(50):  # the unsubscriptions are sent as each turn ends
        if not any([await _subscribed(redis, f"t:sub:{i}") for i in range(20)]):
            break
        await asyncio.sleep(0.02)
    assert not any([await _subscribed(redis, f"t:sub:{i}") for i in range(20)])
    await events.close()
    await own.aclose()
    assert await connections() == 0


@pytest.fixture
async def events(redis_url: str) -> AsyncIterator[Subscriber]:
    """A subscriber over a Redis client of its own, both closed after."""
    own = Redis.from_url(redis_url)
    subscriber = Subscriber(lambda: _ready(own))
    try:
        yield subscriber
    finally:
        await subscriber.close()
        await own.aclose()


async def test_a_resend_joining_a_turn_hears_it_too_and_keeps_it_subscribed(
    redis: Redis, events: Subscriber
) -> None:
    async with events.channel("t:join") as first:
        async with events.channel("t:join") as second:
            await redis.publish("t:join", "accepted")
            assert await _get(first) == await _get(second) == b"accepted"
        assert await _subscribed(redis, "t:join") == 1  # the first still waits on it
        await redis.publish("t:join", "done")
        assert await _get(first) == b"done"


async def test_a_lost_connection_fails_the_waiting_turns_and_not_the_next(
    redis: Redis, events: Subscriber
) -> None:
    async with events.channel("t:lost") as waiting:
        killed = await redis.client_kill_filter(_type="pubsub")
        assert killed >= 1
        lost = await _get(waiting)
        assert isinstance(lost, _Lost) and lost.why
    async with events.channel("t:after") as after:  # a new connection
        await redis.publish("t:after", "answer")
        assert await _get(after) == b"answer"


async def _ready(client: Redis) -> Redis:
    return client


async def test_redis_unreachable_is_a_redis_error_and_nothing_is_kept() -> None:
    from redis.exceptions import ConnectionError as RedisConnectionError

    from xiaoer.bench.servers import free_port

    nowhere = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    events = Subscriber(lambda: _ready(nowhere))
    for _ in range(2):  # and again: not a half-open connection from the first try
        with pytest.raises(RedisConnectionError):
            async with events.channel("t:nowhere"):
                raise AssertionError("unreachable")
    await events.close()
    await nowhere.aclose()
