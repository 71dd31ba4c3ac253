"""Server-sent events for a shopper turn. The contract the widget and console code against.

`POST /v1/conversations/{id}/messages` with `Accept: text/event-stream` (or `?stream=true`)
answers with these events, in this order:

| event         | data (JSON)                                                              |
|---------------|--------------------------------------------------------------------------|
| `accepted`    | `{conversation_id, message_id}` — the shopper's message is stored        |
| `queued`      | `{ahead, text, waiting}` — the model is busy with other conversations:   |
|               | `ahead` turns wait before this one, `text` is the holding reply; told     |
|               | again as the line moves, and with `waiting: false` when it goes ahead    |
| `tool_call`   | `{name, arguments}` — the assistant started a tool (0..n)                |
| `tool_result` | `{name, ok, latency_ms}` — that tool finished                            |
| `delta`       | `{text, reset}` — the next piece of the reply (1..n); with the output    |
|               | guard on, whole sentences, each sent once it passed the guard's checks;   |
|               | `reset: true` means this text replaces every delta before it (the whole   |
|               | reply failed a check a sentence alone passed, and was rewritten)          |
| `done`        | the full turn result: `{reply, conversation_id, message_id, tool_calls,   |
|               | llm_calls, tokens_in, tokens_out, latency_ms, ttft_ms, waited_ms,        |
|               | model_ms, queued_ms, fallback, …}` (of the latency, `waited_ms` in line   |
|               | for slots, `model_ms` in the model's calls; `queued_ms`: on the Redis     |
|               | queue before a turn worker took it, before the latency)                   |
| `error`       | `{type, message}` — the turn failed; the shopper's message stays stored  |

A request refused before the turn starts (bad token, another shopper's conversation, the rate
limit, bad input, 503 busy) gets the same 4xx/503 JSON as without SSE, not a stream. A resend
of a message (same `client_key`) that is answered, or still being answered, gets `delta` and
`done` (`replayed: true`) with that one answer. When the model times out or fails the reply is
an apology and a handoff (`done` with `fallback: true` and `handoff`), never an `error`. An
`error` after `accepted` names a `XiaoerError` with its message, or `InternalError` with a
generic one (the detail stays in the log). Every 15 s the stream sends a `: ping` comment
(keepalive). When the server is told to stop, a turn's stream goes on until its turn ends, up to
the turn deadline.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from sse_starlette import ServerSentEvent

from xiaoer.agent.events import Event, event_payload
from xiaoer.api.errors import outage_of
from xiaoer.domain.errors import XiaoerError
from xiaoer.services.streams import frame

__all__ = ["INTERNAL", "STOP_GRACE_S", "open_stream"]

log = logging.getLogger(__name__)

INTERNAL = "内部错误，请稍后再试 / internal error, please try again later"
"""The `error` event's message for a failure that is not the shopper's doing: internal detail
(a database's or library's message) stays in the log."""


STOP_GRACE_S = 180.0
"""How long a turn's stream may go on after the server is told to stop, when turns have no
deadline (`XIAOER_TURN_DEADLINE=0`)."""


async def open_stream(
    run: Callable[[Callable[[Event], Awaitable[None]]], Awaitable[Any]],
) -> AsyncIterator[ServerSentEvent]:
    """Start the turn and wait for its first event: a turn refused before it emitted anything
    (unknown or another shopper's conversation, the rate limit, bad input, busy) raises here,
    so the SSE request gets the same 4xx as the JSON one. Then the frames, as they happen."""
    queue: asyncio.Queue[ServerSentEvent | None] = asyncio.Queue()

    async def emit(event: Event) -> None:
        await queue.put(frame(event.type, event_payload(event)))

    async def runner() -> None:
        try:
            await run(emit)
        except XiaoerError as exc:
            await queue.put(frame("error", {"type": type(exc).__name__, "message": exc.message}))
            raise
        except Exception as exc:  # the stream must end with an event, never a dropped socket
            if (outage := outage_of(exc)) is not None:
                await queue.put(frame("error", {"type": "Unavailable", "message": outage.message}))
                raise outage from exc
            log.error("turn failed while streaming", exc_info=exc)
            await queue.put(frame("error", {"type": "InternalError", "message": INTERNAL}))
        finally:
            await queue.put(None)

    task = asyncio.create_task(runner())
    first = await queue.get()
    if first is None or first.event == "error":
        await asyncio.wait([task])
        if not task.cancelled() and (exc := task.exception()) is not None:
            raise exc  # nothing was streamed yet: the API's error handler answers it
    return _frames(first, queue, task)


async def _frames(
    first: ServerSentEvent | None,
    queue: asyncio.Queue[ServerSentEvent | None],
    task: asyncio.Task[None],
) -> AsyncIterator[ServerSentEvent]:
    try:
        item = first
        while item is not None:
            yield item
            item = await queue.get()
    finally:
        await asyncio.wait([task])
        if not task.cancelled():
            task.exception()  # a refusal after the first event was told as its `error` event
