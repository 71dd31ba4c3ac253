"""The SSE responses the API and the console stream with (sse-starlette): frames, and the one
response every stream uses, with its keepalive and its end when the client leaves or the server
stops."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterable
from typing import Any

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

KEEPALIVE_S = 15.0
"""A `: ping` comment frame goes out this often on every stream, so that proxies and browsers
do not close an idle one (the model thinking, nobody writing); clients ignore comment lines."""


def frame(event: str, data: dict[str, Any]) -> ServerSentEvent:
    return ServerSentEvent(json.dumps(data, ensure_ascii=False), event=event, sep="\n")


def comment(text: str) -> ServerSentEvent:
    return ServerSentEvent(comment=text, sep="\n")


def respond(frames: AsyncIterable[ServerSentEvent], *, grace_s: float = 0.0) -> Response:
    """Every SSE response (sse-starlette): the frames as they come and a ping every
    `KEEPALIVE_S`; the stream ends when the client goes away, and when the server is told to
    stop — at once, or once the frames end if that is within `grace_s` (a turn being answered)
    — so a stop or a restart never waits on streams that would stay open for half an hour."""
    return _Stream(
        frames,
        headers={"Cache-Control": "no-store"},
        ping=KEEPALIVE_S,
        sep="\n",
        ping_message_factory=lambda: comment("ping"),
        shutdown_grace_period=grace_s,
    )


class _Stream(EventSourceResponse):
    """sse-starlette cancels a stream the server is stopping without ending its body, and the
    server logs each one as an error; this ends it, as a finished stream would (the client sees
    the end and reconnects)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = {"started": False, "ended": False}

        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["started"] = True
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                state["ended"] = True
            await send(message)

        await super().__call__(scope, receive, watched)
        if state["started"] and not state["ended"]:
            with contextlib.suppress(OSError, RuntimeError):  # the client may be gone too
                await send({"type": "http.response.body", "body": b"", "more_body": False})
