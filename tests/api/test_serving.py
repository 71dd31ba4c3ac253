"""`xiaoer demo` serves the web pages in its own process (`api/serving.py`): it listens while
the terminal chat runs, and a taken port is a message, not a crash."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI, Response
from sse_starlette import ServerSentEvent

from xiaoer.api.serving import served
from xiaoer.services.streams import comment, respond


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_the_app_is_served_while_the_block_runs_and_stops_after() -> None:
    port = _free_port()
    async with served(_app(), "127.0.0.1", port) as failed:
        assert failed is None
        async with httpx.AsyncClient() as c:
            r = await c.get(f"http://127.0.0.1:{port}/healthz")
        assert r.json() == {"status": "ok"}
    with socket.socket() as s:  # the port is free again
        s.bind(("127.0.0.1", port))


async def test_a_taken_port_is_told_and_the_block_still_runs() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ran = False
        async with served(_app(), "127.0.0.1", port) as failed:
            ran = True
        assert ran and failed is not None and "in use" in failed.lower()


async def test_open_streams_end_when_the_block_ends() -> None:
    """The demo's console pages hold live streams: leaving the demo ends them at once (it
    waited 10 s for them, then left them hanging)."""
    app = _app()

    async def endless() -> AsyncIterator[ServerSentEvent]:
        while True:
            yield comment("still here")
            await asyncio.sleep(0.2)

    @app.get("/events")
    async def events() -> Response:
        return respond(endless())

    port = _free_port()
    async with httpx.AsyncClient(timeout=30) as c:
        async with served(app, "127.0.0.1", port) as failed:
            assert failed is None

            async def listen() -> str:
                async with c.stream("GET", f"http://127.0.0.1:{port}/events") as r:
                    return "".join([chunk async for chunk in r.aiter_text()])

            listening = asyncio.create_task(listen())
            await asyncio.sleep(0.5)
            began = time.monotonic()
        assert time.monotonic() - began < 3
        assert (await asyncio.wait_for(listening, 3)).startswith(": still here")
