"""Live updates for the console's pages: `GET /console/{shop}/events`, an SSE stream that
says what changed in the shop (`services.live`) — new messages (by conversation) and changes
to the open handoffs — checked every 2 s, with a `: ping` comment every 15 s while nothing
changes. `static/live.js` redraws the queue, the conversations list, or a transcript whose
conversation changed. A stream ends after 30 minutes (the browser reconnects) or when the
browser goes away.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse

from xiaoer.console.pages import Pages
from xiaoer.services import live as live_service

__all__ = ["add_live"]

POLL_S = 2.0
KEEPALIVE_S = 15.0
LIFETIME_S = 30 * 60.0


def _frame(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def add_live(app: FastAPI, pages: Pages) -> None:
    rt, page_ctx = pages.rt, pages.page_ctx
    script = resources.files("xiaoer.console").joinpath("static", "live.js").read_text("utf-8")

    @app.get("/static/live.js")
    async def live_js() -> Response:
        return Response(script, media_type="text/javascript; charset=utf-8",
                        headers={"Cache-Control": "public, max-age=300"})  # fmt: skip

    @app.get("/{shop_id}/events")
    async def events(request: Request, shop_id: str) -> Response:
        await page_ctx(request, shop_id)  # signed in, and this shop is theirs (else 404)
        async with rt().sessions() as s:
            start = await live_service.mark(s, shop_id)

        async def frames() -> AsyncIterator[str]:
            seen, quiet, began = start, time.monotonic(), time.monotonic()
            yield ": connected\n\n"
            while time.monotonic() - began < LIFETIME_S:
                await asyncio.sleep(POLL_S)
                if await request.is_disconnected():
                    return
                async with rt().sessions() as s:
                    now = await live_service.mark(s, shop_id)
                    if now != seen:
                        changed = await live_service.touched(s, shop_id, seen.last_message_id)
                        moved = sorted({c for c, *_ in set(now.handoffs) ^ set(seen.handoffs)})
                        yield _frame("change", {"conversations": changed, "handoffs": moved,
                                                "queued": len(now.handoffs)})  # fmt: skip
                        seen, quiet = now, time.monotonic()
                        continue
                if time.monotonic() - quiet >= KEEPALIVE_S:
                    yield ": ping\n\n"
                    quiet = time.monotonic()

        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(frames(), media_type="text/event-stream", headers=headers)
