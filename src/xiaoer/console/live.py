"""Live updates for the console's pages: `GET /console/{shop}/events`, an SSE stream that
says what changed in the shop (`services.live`) — new messages (by conversation) and changes
to the open handoffs — with a `: ping` comment every 15 s (`services.streams`).
`static/live.js` redraws the queue, the conversations list, or a transcript whose
conversation changed. A stream ends after 30 minutes (the browser reconnects), when the
browser goes away, and at once when the server stops.

The stream reads the database when a commit in the shop wakes it (`services.signals`: in
this process, or any process over Redis), at most every `GAP_S` seconds so that a busy shop's
burst is one read; and every `POLL_S` seconds anyway — 2 s without Redis (a write from
another process is seen then), 15 s with it (a lost signal).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.responses import Response
from sse_starlette import ServerSentEvent

from xiaoer.console.pages import Pages
from xiaoer.services import live as live_service
from xiaoer.services.signals import shop_topic
from xiaoer.services.streams import comment, frame, respond

__all__ = ["add_live"]

POLL_S = 2.0
POLL_REDIS_S = 15.0
GAP_S = 0.25
LIFETIME_S = 30 * 60.0


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

        signals, topic = rt().signals, shop_topic(shop_id)
        poll = POLL_REDIS_S if signals.redis_url else POLL_S
        signal = signals.take(topic)  # taken before the mark: a commit after it wakes us

        async def frames() -> AsyncIterator[ServerSentEvent]:
            nonlocal signal
            seen, began = start, time.monotonic()
            yield comment("connected")
            while time.monotonic() - began < LIFETIME_S:
                await asyncio.sleep(GAP_S)
                # wake for a signal, the next poll or the end
                await signals.wait(signal, min(poll, began + LIFETIME_S - time.monotonic()))
                signal = signals.take(topic)
                async with rt().sessions() as s:
                    now = await live_service.mark(s, shop_id)
                    if now != seen:
                        changed = await live_service.touched(s, shop_id, seen.last_message_id)
                        moved = sorted({c for c, *_ in set(now.handoffs) ^ set(seen.handoffs)})
                        yield frame("change", {"conversations": changed, "handoffs": moved,
                                               "queued": len(now.handoffs)})  # fmt: skip
                        seen = now

        return respond(frames())
