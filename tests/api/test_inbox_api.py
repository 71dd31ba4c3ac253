"""The inbox over HTTP: a shopper asks for a human, the merchant's agent takes over,
whispers and replies, and gives it back; whispers never reach the shopper."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from xiaoer.api.app import create_app
from xiaoer.api.auth import issue_api_key
from xiaoer.config import Settings
from xiaoer.llm.scripted import ScriptedLLM, say
from xiaoer.runtime import Runtime


@pytest.fixture
async def client(settings: Settings, runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, runtime=runtime)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            key = await issue_api_key(runtime.sessions, "mini")
            c.headers["Authorization"] = f"Bearer {key}"
            yield c


async def test_handoff_takeover_whisper_reply_release(
    client: httpx.AsyncClient, llm: ScriptedLLM
) -> None:
    token = (await client.post("/v1/shopper-tokens", json={"shopper_id": "U1"})).json()["token"]
    shopper = {"Authorization": f"Bearer {token}"}
    cid = (await client.post("/v1/conversations", headers=shopper)).json()["conversation_id"]
    llm.steps = [say("好的")]
    r = await client.post(f"/v1/conversations/{cid}/messages", json={"text": "转人工"},
                          headers=shopper)  # fmt: skip
    body = r.json()
    assert r.status_code == 200 and body["handoff"]["reason"] == "asked"
    assert "guard" not in body  # verdicts stay with the shop
    [queued] = (await client.get("/v1/inbox")).json()["handoffs"]
    assert queued["conversation_id"] == cid and queued["summary"]["need"] == "转人工"

    r = await client.post(f"/v1/inbox/{cid}/takeover", json={"agent": "小王"})
    assert r.status_code == 200 and r.json()["status"] == "taken"
    r = await client.post(f"/v1/inbox/{cid}/whisper", json={"text": "这位是老顾客，运费我们出"})
    assert r.status_code == 201
    r = await client.post(
        f"/v1/inbox/{cid}/reply", json={"text": "您好，我是小王", "agent": "小王"}
    )
    assert r.status_code == 201
    seen = (await client.get(f"/v1/conversations/{cid}", headers=shopper)).json()["messages"]
    assert [m["role"] for m in seen] == ["shopper", "assistant", "agent"]
    merchant_view = (await client.get(f"/v1/inbox/{cid}")).json()
    assert [m["role"] for m in merchant_view["messages"]][-2:] == ["whisper", "agent"]
    assert (await client.post(f"/v1/inbox/{cid}/release")).json()["mode"] == "ai"
    assert (await client.get("/v1/inbox")).json()["handoffs"] == []


async def test_bad_inbox_requests_are_clear(client: httpx.AsyncClient, llm: ScriptedLLM) -> None:
    r = await client.post("/v1/inbox/cv_nope/takeover", json={"agent": "小王"})
    assert r.status_code == 404 and "cv_nope" in r.json()["error"]["message"]
    r = await client.get("/v1/inbox", params={"status": "lost"})
    assert r.status_code == 400 and "unknown status" in r.json()["error"]["message"]
    token = (await client.post("/v1/shopper-tokens", json={"shopper_id": "U1"})).json()["token"]
    cid = (
        await client.post("/v1/conversations", headers={"Authorization": f"Bearer {token}"})
    ).json()["conversation_id"]
    r = await client.post(f"/v1/inbox/{cid}/reply", json={"text": "hi", "agent": "小王"})
    assert r.status_code == 409 and "take it over first" in r.json()["error"]["message"]
    r = await client.post(f"/v1/inbox/{cid}/whisper", json={"text": ""})
    assert r.status_code in (400, 422)
