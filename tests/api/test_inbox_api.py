"""The inbox over HTTP: a shopper asks for a human, the merchant's agent takes over,
whispers and replies, and gives it back; whispers never reach the shopper."""

from __future__ import annotations

import httpx

from xiaoer.llm.scripted import ScriptedLLM, say


async def test_handoff_takeover_whisper_reply_release(
    merchant: httpx.AsyncClient, llm: ScriptedLLM
) -> None:
    token = (await merchant.post("/v1/shopper-tokens", json={"shopper_id": "U1"})).json()["token"]
    shopper = {"Authorization": f"Bearer {token}"}
    cid = (await merchant.post("/v1/conversations", headers=shopper)).json()["conversation_id"]
    llm.steps = [say("好的")]
    url = f"/v1/conversations/{cid}/messages"
    r = await merchant.post(url, json={"text": "转人工"}, headers=shopper)
    body = r.json()
    assert r.status_code == 200 and body["handoff"]["reason"] == "asked"
    assert "guard" not in body  # verdicts stay with the shop
    [queued] = (await merchant.get("/v1/inbox")).json()["handoffs"]
    assert queued["conversation_id"] == cid and queued["summary"]["need"] == "转人工"

    r = await merchant.post(f"/v1/inbox/{cid}/takeover", json={"agent": "小王"})
    assert r.status_code == 200 and r.json()["status"] == "taken"
    r = await merchant.post(f"/v1/inbox/{cid}/whisper", json={"text": "这位是老顾客，运费我们出"})
    assert r.status_code == 201
    r = await merchant.post(
        f"/v1/inbox/{cid}/reply", json={"text": "您好，我是小王", "agent": "小王"}
    )
    assert r.status_code == 201
    seen = (await merchant.get(f"/v1/conversations/{cid}", headers=shopper)).json()["messages"]
    assert [m["role"] for m in seen] == ["shopper", "assistant", "agent"]
    merchant_view = (await merchant.get(f"/v1/inbox/{cid}")).json()
    assert [m["role"] for m in merchant_view["messages"]][-2:] == ["whisper", "agent"]
    assert (await merchant.post(f"/v1/inbox/{cid}/release")).json()["mode"] == "ai"
    assert (await merchant.get("/v1/inbox")).json()["handoffs"] == []


async def test_bad_inbox_requests_are_clear(merchant: httpx.AsyncClient, llm: ScriptedLLM) -> None:
    r = await merchant.post("/v1/inbox/cv_nope/takeover", json={"agent": "小王"})
    assert r.status_code == 404 and "cv_nope" in r.json()["error"]["message"]
    r = await merchant.get("/v1/inbox", params={"status": "lost"})
    assert r.status_code == 400 and "unknown status" in r.json()["error"]["message"]
    token = (await merchant.post("/v1/shopper-tokens", json={"shopper_id": "U1"})).json()["token"]
    cid = (
        await merchant.post("/v1/conversations", headers={"Authorization": f"Bearer {token}"})
    ).json()["conversation_id"]
    r = await merchant.post(f"/v1/inbox/{cid}/reply", json={"text": "hi", "agent": "小王"})
    assert r.status_code == 409 and "take it over first" in r.json()["error"]["message"]
    r = await merchant.post(f"/v1/inbox/{cid}/whisper", json={"text": ""})
    assert r.status_code in (400, 422)


async def test_the_kpis_count_the_conversations_the_api_had(
    merchant: httpx.AsyncClient, llm: ScriptedLLM
) -> None:
    """`GET /v1/kpis` on the served app: the merchant's figures, from what happened."""
    token = (await merchant.post("/v1/shopper-tokens", json={"shopper_id": "U1"})).json()["token"]
    shopper = {"Authorization": f"Bearer {token}"}
    cid = (await merchant.post("/v1/conversations", headers=shopper)).json()["conversation_id"]
    llm.steps = [say("您好，在的。")]
    await merchant.post(f"/v1/conversations/{cid}/messages", json={"text": "在吗"}, headers=shopper)
    r = await merchant.get("/v1/kpis")
    body = r.json()
    figures = body["figures"]
    assert r.status_code == 200 and figures["conversations"]["value"] == 1
    assert figures["handoff_rate"]["value"] == 0.0
    r = await merchant.get("/v1/kpis", params={"since": "not-a-day"})
    assert r.status_code == 400 and r.json()["error"]["message"]
