"""An OpenAI-compatible endpoint on a loopback port, for the tests of the client that talks to
one over HTTP (`llm/openai_compat.py`): a handler of its own (aiohttp's server), or an ASGI app
such as the load test's stub (uvicorn, in the test's event loop)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import uvicorn
from aiohttp import web
from aiohttp.test_utils import TestServer

type Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@contextlib.asynccontextmanager
async def endpoint(handler: Handler) -> AsyncIterator[str]:
    """`handler` answering `POST /v1/chat/completions`; yields the base URL (`…/v1`)."""
    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield f"http://127.0.0.1:{server.port}/v1"
    finally:
        await server.close()


@contextlib.asynccontextmanager
async def asgi_endpoint(app: Any) -> AsyncIterator[str]:
    """An ASGI app served by uvicorn on a free loopback port; yields its root URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # it failed to start: say why
        await asyncio.sleep(0.01)
    (port,) = {s.getsockname()[1] for srv in server.servers for s in srv.sockets}
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
