"""Wake-ups for the live streams: a commit that stored a message, changed a handoff or moved a
conversation between the AI and a person wakes the streams watching it at once, instead of
their next look at the database.

The database stays the record: a signal only says "look now". A stream takes its signal
*before* it reads, so a change committed after the read still wakes it, and it also looks
every `fallback` seconds in case a signal was missed (Redis away for a moment, a write from a
process without Redis).

Topics: `shop:{id}` (the console's pages: any message or handoff of the shop) and
`conversation:{id}` (the shopper's window: its messages, its mode). In one process (the
embedded mode) a commit wakes this process's streams directly. With `XIAOER_REDIS_URL` it is
also published on Redis (`xiaoer:wake:{topic}`), and each process holds one subscription
for all its streams — so a turn run by a `xiaoer worker` wakes a console stream served by any
API worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Iterable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from xiaoer.store.models import ConversationRow, HandoffRow, MessageRow
from xiaoer.store.repositories import WRITTEN

__all__ = ["Signals", "conversation_topic", "shop_topic"]

log = logging.getLogger(__name__)

PREFIX = "xiaoer:wake:"
RECONNECT_S = (1.0, 10.0)
"""The subscription lost: try again after the first, doubling up to the second."""


def shop_topic(shop_id: str) -> str:
    return f"shop:{shop_id}"


def conversation_topic(conversation_id: str) -> str:
    return f"conversation:{conversation_id}"


def _topics(session: Session) -> set[str]:
    """What the session's pending flush changes, as topics."""
    topics: set[str] = set()
    for obj in (*session.new, *session.dirty):
        if isinstance(obj, MessageRow | HandoffRow):
            topics |= {shop_topic(obj.shop_id), conversation_topic(obj.conversation_id)}
        elif isinstance(obj, ConversationRow) and obj in session.dirty:
            topics.add(conversation_topic(obj.id))
    return topics


class Signals:
    """One per runtime: `watch` its sessions, then streams `take` and `wait`."""

    def __init__(self, redis_url: str = "") -> None:
        self.redis_url = redis_url
        self._waiting: weakref.WeakValueDictionary[str, asyncio.Event] = (
            weakref.WeakValueDictionary()
        )
        """The events streams wait on, by topic; held by the streams only, so a stream that
        ends unwoken (its client left, a conversation nobody writes to again) leaves nothing."""
        self._redis: Redis | None = None
        self._listener: asyncio.Task[None] | None = None
        self._sends: set[asyncio.Task[None]] = set()

    def watch(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        """Commits of these sessions (and only these: their own session class) send signals."""

        class Signalling(Session):
            pass

        def flushed(session: Session, _context: object, _instances: object) -> None:
            session.info.setdefault("wake", set()).update(_topics(session))

        def committed(session: Session) -> None:
            topics = session.info.pop("wake", set())
            for shop_id, conversation_id in session.info.pop(WRITTEN, ()):
                topics |= {shop_topic(shop_id), conversation_topic(conversation_id)}
            if topics:
                self.send(topics)

        def rolled_back(session: Session) -> None:
            session.info.pop("wake", None)
            session.info.pop(WRITTEN, None)

        # before each flush: what it is about to write (new, dirty); the commit sends it
        event.listen(Signalling, "before_flush", flushed)
        event.listen(Signalling, "after_commit", committed)
        event.listen(Signalling, "after_rollback", rolled_back)
        sessions.configure(sync_session_class=Signalling)

    def take(self, topic: str) -> asyncio.Event:
        """The event the next signal on `topic` sets; take it before reading the database."""
        if self.redis_url and self._listener is None:
            self._listener = asyncio.create_task(self._listen())
        return self._waiting.setdefault(topic, asyncio.Event())

    @staticmethod
    async def wait(signal: asyncio.Event, at_most: float) -> bool:
        """Until the signal, or `at_most` seconds; whether it came."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(at_most, 0.0)):
                await signal.wait()
        return signal.is_set()

    def send(self, topics: Iterable[str]) -> None:
        """Wake this process's streams on these topics, and the other processes' over Redis."""
        topics = list(topics)
        for topic in topics:
            self._wake(topic)
        if self.redis_url:
            with contextlib.suppress(RuntimeError):  # no running loop: nobody is listening
                task = asyncio.get_running_loop().create_task(self._publish(topics))
                self._sends.add(task)
                task.add_done_callback(self._sends.discard)

    def _wake(self, topic: str) -> None:
        if (signal := self._waiting.pop(topic, None)) is not None:
            signal.set()

    def _client(self) -> Redis:
        if self._redis is None:
            self._redis = Redis.from_url(self.redis_url, socket_connect_timeout=2)
        return self._redis

    async def _publish(self, topics: list[str]) -> None:
        try:
            async with self._client().pipeline(transaction=False) as pipe:
                for topic in topics:
                    pipe.publish(PREFIX + topic, b"1")
                await pipe.execute()
        except (RedisError, OSError) as exc:  # the streams still look every few seconds
            log.debug("live signal not published: %s", exc)

    async def _listen(self) -> None:
        pause = RECONNECT_S[0]
        while True:
            pubsub: Any = self._client().pubsub()
            try:
                await pubsub.psubscribe(PREFIX + "*")
                pause = RECONNECT_S[0]
                async for message in pubsub.listen():
                    if message.get("type") == "pmessage":
                        self._wake(message["channel"].decode().removeprefix(PREFIX))
            except (RedisError, OSError) as exc:
                log.warning("live signals: lost Redis (%s); again in %.0f s", exc, pause)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()
            await asyncio.sleep(pause)
            pause = min(pause * 2, RECONNECT_S[1])

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
            self._listener = None
        if self._sends:
            await asyncio.gather(*self._sends, return_exceptions=True)
        if self._redis is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._redis.aclose()
            self._redis = None
