"""Server-sent events for a shopper turn. The contract the widget and console code against.

`POST /v1/conversations/{id}/messages` with `Accept: text/event-stream` (or `?stream=true`)
answers with these events, in this order:

| event         | data (JSON)                                                              |
|---------------|--------------------------------------------------------------------------|
| `accepted`    | `{conversation_id, message_id}` — the shopper's message is stored        |
| `tool_call`   | `{name, arguments}` — the assistant started a tool (0..n)                |
| `tool_result` | `{name, ok, latency_ms}` — that tool finished                            |
| `delta`       | `{text}` — the next piece of the reply (1..n)                            |
| `done`        | the full turn result: `{reply, conversation_id, message_id, tool_calls,   |
|               | llm_calls, tokens_in, tokens_out, latency_ms, ttft_ms, fallback, …}`     |
| `error`       | `{type, message}` — the turn failed; the shopper's message stays stored  |
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from xiaoer.agent.events import Event, event_payload
from xiaoer.domain.errors import XiaoerError


def frame(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


async def stream_turn(
    run: Callable[[Callable[[Event], Awaitable[None]]], Awaitable[Any]],
) -> AsyncIterator[str]:
    """Run a turn in a task and yield its events as SSE frames as they happen."""
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    async def emit(event: Event) -> None:
        await queue.put(frame(event.type, event_payload(event)))

    async def runner() -> None:
        try:
            await run(emit)
        except XiaoerError as exc:
            await queue.put(frame("error", {"type": type(exc).__name__, "message": exc.message}))
        except Exception as exc:  # the stream must end with an event, never a dropped socket
            await queue.put(frame("error", {"type": "InternalError", "message": str(exc)}))
        finally:
            await queue.put(None)

    task = asyncio.create_task(runner())
    try:
        while (item := await queue.get()) is not None:
            yield item
    finally:
        await task
