"""The shopper widget's server side: the script, product cards, the demo page (only when turned
on), CORS for the pages it is embedded on, what a reload needs, and SSE keepalive."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Response

import xiaoer.api.sse as sse
import xiaoer.services.streams as streams
from xiaoer.agent.events import TextDelta
from xiaoer.api.app import create_app
from xiaoer.api.auth import verify_shopper_token
from xiaoer.config import Settings
from xiaoer.llm.scripted import ScriptedLLM, say
from xiaoer.runtime import Runtime


async def _client(settings: Settings, runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, runtime=runtime)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            yield c


async def _shopper(merchant: httpx.AsyncClient, shopper: str = "U1") -> dict[str, str]:
    r = await merchant.post("/v1/shopper-tokens", json={"shopper_id": shopper})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


async def test_the_script_is_served_as_javascript(merchant: httpx.AsyncClient) -> None:
    r = await merchant.get("/widget.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert "client_key" in r.text and "text/event-stream" in r.text


async def test_a_product_card_is_the_catalogues_figures(merchant: httpx.AsyncClient) -> None:
    auth = await _shopper(merchant)
    r = await merchant.get("/v1/products/P2", headers=auth)
    assert r.status_code == 200, r.text
    card = r.json()
    assert card["title"] == "云跃 Pro 碳板竞速跑鞋"
    assert card["options"] and all(isinstance(o["available"], bool) for o in card["options"])
    assert card["price"][0] <= min(o["price"] for o in card["options"])
    assert (await merchant.get("/v1/products/NOPE", headers=auth)).status_code == 404
    assert (await merchant.get("/v1/products/P2")).status_code == 401  # a merchant key is not it


async def test_the_demo_page_exists_only_when_turned_on(
    settings: Settings, runtime: Runtime, merchant: httpx.AsyncClient
) -> None:
    assert (await merchant.get("/demo/mini")).status_code == 404
    on = settings.model_copy(update={"demo_pages": True})
    async for c in _client(on, runtime):
        page = await c.get("/demo/mini?shopper=U2&product=P2")
        assert page.status_code == 200
        assert "云跃 Pro 碳板竞速跑鞋" in page.text and 'src="/widget.js"' in page.text
        token = re.search(r'data-token="([^"]+)"', page.text)
        assert token is not None
        claims = verify_shopper_token(on.signing_key(), token.group(1), runtime.clock())
        assert (claims.shop_id, claims.shopper_id) == ("mini", "U2")
        assert (await c.get("/demo/nowhere")).status_code == 404
        assert (await c.get("/demo/mini?shopper=U404")).status_code == 200  # the first shopper


async def test_pages_on_listed_origins_may_call_the_shopper_api(
    settings: Settings, runtime: Runtime, merchant: httpx.AsyncClient
) -> None:
    preflight = {
        "Origin": "https://shop.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    closed = await merchant.options("/v1/conversations", headers=preflight)
    assert "access-control-allow-origin" not in closed.headers
    listed = settings.model_copy(
        update={"widget_origins": "https://shop.example, https://b.example"}
    )
    async for c in _client(listed, runtime):
        r = await c.options("/v1/conversations", headers=preflight)
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "https://shop.example"
        other = await c.options(
            "/v1/conversations", headers=preflight | {"Origin": "https://x.example"}
        )
        assert "access-control-allow-origin" not in other.headers


async def test_a_reload_can_tell_which_of_its_messages_arrived(
    merchant: httpx.AsyncClient, llm: ScriptedLLM
) -> None:
    llm.steps = [say("您好，在的。")]
    auth = await _shopper(merchant)
    cid = (await merchant.post("/v1/conversations", headers=auth)).json()["conversation_id"]
    sent = {"text": "在吗", "client_key": "k-1"}
    assert (
        await merchant.post(f"/v1/conversations/{cid}/messages", json=sent, headers=auth)
    ).status_code == 200
    read = (await merchant.get(f"/v1/conversations/{cid}", headers=auth)).json()
    assert [(m["role"], m["client_key"]) for m in read["messages"]] == [
        ("shopper", "k-1"),
        ("assistant", None),
    ]


async def test_a_quiet_stream_sends_keepalive_pings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streams, "KEEPALIVE_S", 0.04)

    async def run(emit: Any) -> None:
        await emit(TextDelta("先"))
        await asyncio.sleep(0.3)  # the model thinking
        await emit(TextDelta("后"))

    app = FastAPI()

    @app.get("/s")
    async def stream() -> Response:
        return streams.respond(await sse.open_stream(run))

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        r = await c.get("/s")
    frames = [f for f in r.text.split("\n\n") if f]
    assert frames[0].startswith("event: delta") and frames[-1].startswith("event: delta")
    assert ": ping" in frames[1:-1]
    assert all(f == ": ping" for f in frames[1:-1])


async def _taken_over(
    merchant: httpx.AsyncClient, runtime: Runtime, llm: ScriptedLLM
) -> tuple[dict[str, str], str, int]:
    """A shopper's conversation answered once by the AI, then taken over by 小王: the
    shopper's auth, the conversation, and the answer's message id."""
    llm.steps = [say("您好，在的。")]
    auth = await _shopper(merchant)
    cid = (await merchant.post("/v1/conversations", headers=auth)).json()["conversation_id"]
    sent = {"text": "在吗", "client_key": "k-1"}
    answer = await merchant.post(f"/v1/conversations/{cid}/messages", json=sent, headers=auth)
    await runtime.inbox().takeover("mini", cid, "小王")
    return auth, cid, answer.json()["message_id"]


async def test_a_human_agents_reply_reaches_the_shopper_on_the_live_stream(
    merchant: httpx.AsyncClient, runtime: Runtime, llm: ScriptedLLM,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    import xiaoer.api.widget as widget

    monkeypatch.setattr(widget, "POLL_S", 0.05)
    monkeypatch.setattr(streams, "KEEPALIVE_S", 0.3)
    monkeypatch.setattr(widget, "LIFETIME_S", 1.0)
    auth, cid, after = await _taken_over(merchant, runtime, llm)
    inbox = runtime.inbox()
    await inbox.whisper("mini", cid, "先安抚一下")  # for the AI: never on the shopper's screen

    url = f"/v1/conversations/{cid}/events?after={after}"
    listening = asyncio.create_task(merchant.get(url, headers=auth))
    await asyncio.sleep(0.2)
    await inbox.reply("mini", cid, "我是客服小王，这就帮您看。", "小王")
    r = await listening
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = re.findall(r"event: (\w+)\ndata: (.*)\n\n", r.text)
    assert [(e, json.loads(d)["role"], json.loads(d)["text"]) for e, d in events] == [
        ("message", "agent", "我是客服小王，这就帮您看。")
    ]
    assert ": ping" in r.text  # nothing new for a while: keepalive
    # from the start: the whole conversation the shopper sees, in order
    r = await merchant.get(f"/v1/conversations/{cid}/events", headers=auth)
    roles = [json.loads(d)["role"] for _, d in re.findall(r"event: (\w+)\ndata: (.*)\n\n", r.text)]
    assert roles == ["shopper", "assistant", "agent"]
    # another shopper's conversation, no token, a bad `after`: the API's own 4xx answers
    other = await _shopper(merchant, "U2")
    assert (await merchant.get(url, headers=other)).status_code == 404
    assert (await merchant.get(url)).status_code == 401
    bad = await merchant.get(f"/v1/conversations/{cid}/events?after=-1", headers=auth)
    assert bad.status_code == 400 and "error" in bad.json()
    # back with the AI: the stream says so and ends, long before its lifetime
    monkeypatch.setattr(widget, "LIFETIME_S", 30.0)
    listening = asyncio.create_task(merchant.get(url, headers=auth))
    await asyncio.sleep(0.2)
    await inbox.release("mini", cid)
    r = await asyncio.wait_for(listening, 5)
    events = re.findall(r"event: (\w+)\ndata: (.*)\n\n", r.text)
    assert events[-1] == ("released", '{"mode": "ai"}') and events[0][0] == "message"


async def test_an_agents_reply_wakes_the_shoppers_stream_at_once(
    merchant: httpx.AsyncClient, runtime: Runtime, llm: ScriptedLLM,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """No timed look at the database after the first (poll and keepalive 60 s): the reply and
    the release reach the stream because their commits wake it."""
    import xiaoer.api.widget as widget

    monkeypatch.setattr(widget, "POLL_S", 60.0)
    monkeypatch.setattr(streams, "KEEPALIVE_S", 60.0)
    monkeypatch.setattr(widget, "LIFETIME_S", 5.0)
    auth, cid, after = await _taken_over(merchant, runtime, llm)
    inbox = runtime.inbox()
    url = f"/v1/conversations/{cid}/events?after={after}"
    listening = asyncio.create_task(merchant.get(url, headers=auth))
    await asyncio.sleep(0.2)
    await inbox.reply("mini", cid, "我是客服小王。", "小王")
    await asyncio.sleep(0.2)
    began = time.monotonic()
    await inbox.release("mini", cid)
    r = await listening
    assert time.monotonic() - began < 2.0  # ended by the release, not its 5 s lifetime
    events = [e for e, _ in re.findall(r"event: (\w+)\ndata: (.*)\n\n", r.text)]
    assert events == ["message", "released"]
