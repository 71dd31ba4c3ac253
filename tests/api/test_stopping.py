"""A real `xiaoer serve` told to stop (SIGTERM, as systemd and compose do) while shoppers hold
streams open: the widget's live streams end at once, cleanly, and a turn being answered on a
stream is finished first. Before sse-starlette, one open live stream kept the server up for its
30-minute lifetime."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from conftest import NOW
from minishop import write_bundle
from xiaoer.api.auth import issue_api_key
from xiaoer.bench.servers import free_port, wait_for_port
from xiaoer.config import Settings
from xiaoer.llm.scripted import ScriptedLLM
from xiaoer.runtime import Runtime
from xiaoer.store.repositories import ConversationRepository


@pytest.fixture
def stub() -> Iterator[str]:
    """The load test's LLM stub, 1 s a call: a turn takes a few seconds."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "xiaoer.bench.stub_llm", "--port", str(port), "--latency", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, timeout=30, alive=lambda: proc.poll() is None)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture
async def shop(tmp_path: Path, stub: str) -> AsyncIterator[tuple[Runtime, dict[str, str]]]:
    """The mini shop in a SQLite file, and the environment a server on it runs with."""
    env = {
        **os.environ,
        "XIAOER_HOME": str(tmp_path / "home"),
        "XIAOER_DATABASE_URL": f"sqlite:///{tmp_path / 'shop.db'}",
        "XIAOER_SECRET_KEY": "stop-test",
        "XIAOER_EMBEDDINGS": "false",
        "XIAOER_LLM_BASE_URL": stub,
        "XIAOER_LLM_MODEL": "stub",
        "XIAOER_NOW": NOW.isoformat(),
    }
    settings = Settings(
        home=tmp_path / "home",
        database_url=env["XIAOER_DATABASE_URL"],
        secret_key="stop-test",
        embeddings=False,
        now=NOW,
    )
    runtime = await Runtime.open(settings, llm=ScriptedLLM())
    await runtime.import_shop(write_bundle(tmp_path / "bundle"))
    env["KEY"] = await issue_api_key(runtime.sessions, "mini")
    yield runtime, env
    await runtime.close()


def _spawn(env: dict[str, str], tmp_path: Path, port: int) -> subprocess.Popen[bytes]:
    log = (tmp_path / "serve.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "xiaoer", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


async def _serve(env: dict[str, str], tmp_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = _spawn(env, tmp_path, port)
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient() as c:
        for _ in range(300):
            try:
                if (await c.get(f"{base}/readyz", timeout=2)).status_code == 200:
                    return proc, base
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            await asyncio.sleep(0.1)
    raise AssertionError("the server did not become ready")


async def _shopper(c: httpx.AsyncClient, key: str) -> dict[str, str]:
    token = await c.post("/v1/shopper-tokens", json={"shopper_id": "U1"},
                         headers={"Authorization": f"Bearer {key}"})  # fmt: skip
    return {"Authorization": f"Bearer {token.json()['token']}"}


async def _exited(proc: subprocess.Popen[bytes], within: float) -> float:
    began = time.monotonic()
    while proc.poll() is None:
        assert time.monotonic() - began < within, "the server is still running"
        await asyncio.sleep(0.05)
    return time.monotonic() - began


@pytest.fixture
async def server(
    shop: tuple[Runtime, dict[str, str]], tmp_path: Path
) -> AsyncIterator[tuple[subprocess.Popen[bytes], httpx.AsyncClient, dict[str, str]]]:
    """A real `xiaoer serve` on the mini shop, a client of it, and a shopper's auth header."""
    _, env = shop
    proc, base = await _serve(env, tmp_path)
    try:
        async with httpx.AsyncClient(base_url=base, timeout=60) as c:
            yield proc, c, await _shopper(c, env["KEY"])
    finally:
        proc.kill()
        proc.wait()


async def test_live_streams_end_at_once_when_the_server_stops(
    shop: tuple[Runtime, dict[str, str]],
    server: tuple[subprocess.Popen[bytes], httpx.AsyncClient, dict[str, str]],
    tmp_path: Path,
) -> None:
    runtime, (proc, c, auth) = shop[0], server
    ids = [(await c.post("/v1/conversations", headers=auth)).json()["conversation_id"]
           for _ in range(5)]  # fmt: skip
    async with runtime.sessions() as s:
        for cid in ids:  # with a person: the widget listens for their replies
            await ConversationRepository(s, "mini").set_mode(cid, "human")
        await s.commit()

    async def listen(cid: str) -> str:
        async with c.stream("GET", f"/v1/conversations/{cid}/events", headers=auth) as r:
            assert r.status_code == 200
            return "".join([chunk async for chunk in r.aiter_text()])  # to a clean end

    listening = [asyncio.create_task(listen(cid)) for cid in ids]
    await asyncio.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    assert await _exited(proc, within=10) < 5
    bodies = await asyncio.wait_for(asyncio.gather(*listening), 5)
    assert all(body.startswith(": connected") for body in bodies)
    assert "without completing response" not in (tmp_path / "serve.log").read_text()


async def test_a_turn_being_answered_is_finished_before_the_server_stops(
    server: tuple[subprocess.Popen[bytes], httpx.AsyncClient, dict[str, str]],
) -> None:
    proc, c, auth = server
    cid = (await c.post("/v1/conversations", headers=auth)).json()["conversation_id"]
    events: list[str] = []
    url = f"/v1/conversations/{cid}/messages?stream=true"
    async with c.stream("POST", url, json={"text": "有没有跑鞋"}, headers=auth) as r:
        async for line in r.aiter_lines():
            if line.startswith("event: "):
                events.append(line.removeprefix("event: "))
                if events == ["accepted"]:
                    proc.send_signal(signal.SIGTERM)  # mid-turn
            if line.startswith("data: ") and events[-1] == "done":
                done = json.loads(line.removeprefix("data: "))
    assert events[0] == "accepted" and events[-1] == "done" and done["reply"]
    await _exited(proc, within=10)
