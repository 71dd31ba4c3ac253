"""The web pages and API served inside another command's process (`xiaoer demo`): one event
loop, one runtime and one loaded model for the terminal chat, the console and the widget."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator

import uvicorn
from fastapi import FastAPI
from sse_starlette.sse import AppStatus

STARTUP_POLLS = 400
"""At most 20 s for the app's startup (it loads the model before it listens)."""


class _Alongside(uvicorn.Server):
    """A server that leaves Ctrl-C to the command it runs in."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind(host: str, port: int) -> socket.socket | str:
    """A listening socket on (host, port), or why there is none (the port is taken)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        return exc.strerror or str(exc)
    sock.set_inheritable(True)
    return sock


@contextlib.asynccontextmanager
async def served(app: FastAPI, host: str, port: int) -> AsyncIterator[str | None]:
    """Serve `app` on (host, port) while the block runs. Yields None once it listens, or why it
    could not (the block runs either way: the command still works without its web pages)."""
    sock = bind(host, port)
    if isinstance(sock, str):
        yield sock
        return
    server = _Alongside(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(STARTUP_POLLS):  # uvicorn sets a flag, not an event, once it listens
        if server.started or task.done():
            break
        await asyncio.sleep(0.05)
    try:
        yield None if server.started else "the server did not start"
    finally:
        server.should_exit = True
        AppStatus.should_exit = True  # what a signal would tell them: open streams end now
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)
        AppStatus.should_exit = False
        sock.close()
