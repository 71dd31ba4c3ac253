"""Work this process is doing, by key: asked for again while it runs, the same work is awaited
rather than done twice (a resend of a message, a second press of a button)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any


class InFlight[K, T]:
    """Tasks by key, each forgotten when it ends. A task is shielded from its callers: one who
    hangs up does not stop the work another caller (a resend) waits for."""

    def __init__(self, ended: Callable[[K], None] | None = None) -> None:
        self._tasks: dict[K, asyncio.Task[T]] = {}
        self._ended = ended
        """Told each key whose task ended (to forget what goes with it)."""

    def get(self, key: K) -> asyncio.Task[T] | None:
        return self._tasks.get(key)

    def start(self, key: K, work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task = asyncio.create_task(work)
        self._tasks[key] = task
        task.add_done_callback(lambda done: self._done(key, done))
        return task

    def _done(self, key: K, task: asyncio.Task[T]) -> None:
        self._tasks.pop(key, None)
        if self._ended is not None:
            self._ended(key)
        if not task.cancelled():
            task.exception()  # retrieved: the callers that still wait are told it themselves
