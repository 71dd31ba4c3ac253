"""The console's live updates: an SSE stream per shop that names the conversations with new
messages and the handoffs that changed, with keepalive pings; the pages load its script."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest

import xiaoer.console.live as live
import xiaoer.services.streams as streams
from console_fixture import NOW, chats, login
from xiaoer.runtime import Runtime
from xiaoer.store.repositories import ConversationRepository, HandoffRepository


async def test_the_stream_names_what_changed_and_pings_while_quiet(
    console: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "POLL_S", 0.05)
    monkeypatch.setattr(streams, "KEEPALIVE_S", 0.2)
    monkeypatch.setattr(live, "LIFETIME_S", 1.2)
    await chats(runtime)
    await login(console, "li")

    async def meanwhile() -> None:
        await asyncio.sleep(0.5)
        async with runtime.sessions() as s:
            await ConversationRepository(s, "mini").add_message(
                "c0", "shopper", "还在吗", NOW + timedelta(minutes=1)
            )
            await HandoffRepository(s, "mini").open(
                "c1", "U2", "asked", detail="顾客要求", priority=1,
                summary={"need": "人工", "tried": [], "orders": []}, now=NOW,
            )  # fmt: skip
            await s.commit()

    task = asyncio.create_task(meanwhile())
    r = await console.get("/console/mini/events")
    await task
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    frames = [f for f in r.text.split("\n\n") if f]
    changes = [f for f in frames if f.startswith("event: change")]
    assert len(changes) == 1, frames
    assert '"conversations": ["c0"]' in changes[0] and '"handoffs": ["c1"]' in changes[0]
    assert '"queued": 2' in changes[0]  # c2's and c1's
    assert frames.count(": ping") >= 2  # quiet before and after the change


async def test_the_stream_is_the_shops_own(console: httpx.AsyncClient, runtime: Runtime) -> None:
    assert (await console.get("/console/mini/events")).status_code == 303  # signed out
    await login(console, "far")  # owner of another shop
    assert (await console.get("/console/mini/events")).status_code == 404


async def test_live_pages_load_the_script_and_others_do_not(
    console: httpx.AsyncClient, runtime: Runtime
) -> None:
    await chats(runtime)
    await login(console, "boss")
    for url, page in (("/console/mini/queue", "queue"),
                      ("/console/mini/conversations/c0", "transcript")):  # fmt: skip
        html = (await console.get(url)).text
        assert f'data-page="{page}"' in html and 'src="/console/static/live.js"' in html
    assert 'data-conversation="c0"' in (await console.get("/console/mini/conversations/c0")).text
    assert "live.js" not in (await console.get("/console/mini/settings")).text
    script = await console.get("/console/static/live.js")
    assert script.status_code == 200 and "EventSource" in script.text
    page = await console.get("/console/mini/queue")
    assert "script-src 'self'" in page.headers["content-security-policy"]  # no inline script


async def test_a_commit_wakes_the_stream_at_once(
    console: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No timed look at the database within the stream's life but at its end (poll and
    keepalive 60 s, life 3 s): the stream looks, and names the change, right after the commit
    because the commit woke it."""
    monkeypatch.setattr(live, "POLL_S", 60.0)
    monkeypatch.setattr(streams, "KEEPALIVE_S", 60.0)
    monkeypatch.setattr(live, "LIFETIME_S", 3.0)
    looked: list[float] = []
    mark = live.live_service.mark

    async def watched(*args: Any) -> Any:
        looked.append(time.monotonic())
        return await mark(*args)

    monkeypatch.setattr(live.live_service, "mark", watched)
    await chats(runtime)
    await login(console, "li")
    committed: list[float] = []

    async def meanwhile() -> None:
        await asyncio.sleep(0.5)
        async with runtime.sessions() as s:
            await ConversationRepository(s, "mini").add_message(
                "c0", "shopper", "还在吗", NOW + timedelta(minutes=1)
            )
            committed.append(time.monotonic())
            await s.commit()

    task = asyncio.create_task(meanwhile())
    r = await console.get("/console/mini/events")
    await task
    assert any(0 < t - committed[0] < 1.0 for t in looked), (looked, committed)
    changes = [f for f in r.text.split("\n\n") if f.startswith("event: change")]
    assert len(changes) == 1 and '"conversations": ["c0"]' in changes[0], r.text
