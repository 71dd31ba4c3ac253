from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from minishop import write_bundle
from xiaoer.api.app import create_app
from xiaoer.api.auth import issue_api_key, sign_shopper_token
from xiaoer.config import Settings
from xiaoer.llm.scripted import ScriptedLLM, call, say
from xiaoer.runtime import Runtime


@pytest.fixture
def client(merchant: httpx.AsyncClient) -> httpx.AsyncClient:
    """The merchant's client with its key set aside in an `x-api-key` header, which no endpoint
    reads: a request goes as the shopper unless it sends `Authorization: Bearer <key>`."""
    key = merchant.headers.pop("Authorization").removeprefix("Bearer ")
    merchant.headers["x-api-key"] = key
    return merchant


async def _token(c: httpx.AsyncClient, shopper: str = "U1") -> dict[str, str]:
    r = await c.post(
        "/v1/shopper-tokens",
        json={"shopper_id": shopper},
        headers={"Authorization": f"Bearer {c.headers['x-api-key']}"},
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


async def test_json_turn(client: httpx.AsyncClient, llm: ScriptedLLM) -> None:
    llm.steps = [call("track_logistics", order_id="SO1001"), say("到杭州了。")]
    auth = await _token(client)
    cid = (await client.post("/v1/conversations", headers=auth)).json()["conversation_id"]
    r = await client.post(
        f"/v1/conversations/{cid}/messages", json={"text": "SO1001 到哪了"}, headers=auth
    )
    assert r.status_code == 200
    body = r.json()
    assert body["reply"] == "到杭州了。" and body["tool_calls"][0]["name"] == "track_logistics"
    read = (await client.get(f"/v1/conversations/{cid}", headers=auth)).json()
    assert [m["role"] for m in read["messages"]] == ["shopper", "assistant"]
    assert read["messages"][1]["tool_calls"] == [
        {"name": "track_logistics", "arguments": {"order_id": "SO1001"}, "ok": True}
    ]


async def test_sse_turn(client: httpx.AsyncClient, llm: ScriptedLLM) -> None:
    llm.steps = [call("list_my_orders"), say("您有两个订单。")]
    auth = await _token(client)
    cid = (await client.post("/v1/conversations", headers=auth)).json()["conversation_id"]
    r = await client.post(
        f"/v1/conversations/{cid}/messages",
        json={"text": "我的订单", "client_key": "m1"},
        headers=auth | {"Accept": "text/event-stream"},
    )
    assert r.headers["content-type"].startswith("text/event-stream")
    events = [
        (block.split("\n")[0].removeprefix("event: "), json.loads(block.split("\n")[1][6:]))
        for block in r.text.strip().split("\n\n")
    ]
    assert [e for e, _ in events] == ["accepted", "tool_call", "tool_result", "delta", "done"]
    assert events[-1][1]["reply"] == "您有两个订单。"


async def test_sse_error_event_keeps_the_message(
    client: httpx.AsyncClient, llm: ScriptedLLM
) -> None:
    auth = await _token(client)
    cid = (await client.post("/v1/conversations", headers=auth)).json()["conversation_id"]
    r = await client.post(
        f"/v1/conversations/{cid}/messages?stream=true", json={"text": "hi"}, headers=auth
    )
    assert "event: error" in r.text  # the scripted model has no steps left: the turn fails
    read = (await client.get(f"/v1/conversations/{cid}", headers=auth)).json()
    assert [m["text"] for m in read["messages"]] == ["hi"]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "reason"),
    [
        ("post", "/v1/conversations", {}, 401, "missing `Authorization"),
        (
            "post",
            "/v1/conversations",
            {"headers": {"Authorization": "Bearer x.y"}},
            401,
            "shopper token",
        ),
        (
            "post",
            "/v1/shopper-tokens",
            {"json": {"shopper_id": "U1"}, "headers": {"Authorization": "Bearer nope"}},
            401,
            "invalid API key",
        ),
    ],
)
async def test_auth_errors(
    client: httpx.AsyncClient, method: str, path: str, kwargs: dict, status: int, reason: str
) -> None:
    r = await getattr(client, method)(path, **kwargs)
    assert r.status_code == status
    assert reason in r.json()["error"]["message"]


async def test_bad_input_is_400_with_reason(client: httpx.AsyncClient) -> None:
    auth = await _token(client)
    cid = (await client.post("/v1/conversations", headers=auth)).json()["conversation_id"]
    r = await client.post(f"/v1/conversations/{cid}/messages", json={"txt": "hi"}, headers=auth)
    assert r.status_code == 400 and "body.text: Field required" in r.json()["error"]["message"]
    r = await client.post(
        f"/v1/conversations/{cid}/messages", json={"text": "x" * 2001}, headers=auth
    )
    assert r.status_code == 400 and "at most 2000" in r.json()["error"]["message"]


async def test_token_for_unknown_shopper_is_404(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/v1/shopper-tokens",
        json={"shopper_id": "U404"},
        headers={"Authorization": f"Bearer {client.headers['x-api-key']}"},
    )
    assert r.status_code == 404 and "U404" in r.json()["error"]["message"]


async def test_conversations_are_private(client: httpx.AsyncClient) -> None:
    mine = await _token(client, "U1")
    other = await _token(client, "U2")
    cid = (await client.post("/v1/conversations", headers=mine)).json()["conversation_id"]
    assert (await client.get(f"/v1/conversations/{cid}", headers=other)).status_code == 404
    r = await client.post(f"/v1/conversations/{cid}/messages", json={"text": "hi"}, headers=other)
    assert r.status_code == 403


async def test_expired_token(client: httpx.AsyncClient, settings: Settings) -> None:
    token = sign_shopper_token(settings.signing_key(), "mini", "U1", expires_at=1)
    r = await client.post("/v1/conversations", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and "expired" in r.json()["error"]["message"]


async def test_openapi_docs(client: httpx.AsyncClient) -> None:
    assert (await client.get("/docs")).status_code == 200
    spec = (await client.get("/openapi.json")).json()
    assert "/v1/conversations/{conversation_id}/messages" in spec["paths"]


async def test_confirm_button_and_merchant_approval(
    settings: Settings, llm: ScriptedLLM, tmp_path: Path
) -> None:
    rt = await Runtime.open(settings, llm=llm)
    await rt.import_shop(write_bundle(tmp_path / "b", policy="refund: {auto_limit: 100}\n"))
    app = create_app(settings, runtime=rt)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            key = await issue_api_key(rt.sessions, "mini")
            c.headers["x-api-key"] = key
            merchant = {"Authorization": f"Bearer {key}"}
            auth = await _token(c)
            cid = (await c.post("/v1/conversations", headers=auth)).json()["conversation_id"]
            llm.steps = [call("request_refund", order_id="SO1002", reason="拍错了")]
            r = await c.post(
                f"/v1/conversations/{cid}/messages",
                json={"text": "SO1002 拍错了退款"},
                headers=auth,
            )
            [pending] = r.json()["actions"]
            assert pending["status"] == "pending" and pending["amount"] == "¥308"
            url = f"/v1/conversations/{cid}/actions/{pending['id']}"
            pressed = await c.post(f"{url}/confirm", headers=auth)
            again = await c.post(f"{url}/confirm", headers=auth)  # a double click
            assert pressed.status_code == again.status_code == 200
            assert pressed.json()["actions"][0]["status"] == "awaiting_approval"
            assert again.json()["replayed"] and again.json()["reply"] == pressed.json()["reply"]
            assert (await c.post(f"{url}/decline", headers=auth)).status_code == 409

            queue = (await c.get("/v1/actions?status=awaiting_approval", headers=merchant)).json()
            assert [a["id"] for a in queue["actions"]] == [pending["id"]]
            other = await c.post(f"/v1/actions/{pending['id']}/approve", json={}, headers=auth)
            assert other.status_code == 401  # a shopper token is not a merchant key
            ok = await c.post(
                f"/v1/actions/{pending['id']}/approve", json={"note": "核实无误"}, headers=merchant
            )
            assert ok.status_code == 200 and ok.json()["status"] == "executed"
            read = (await c.get(f"/v1/conversations/{cid}", headers=auth)).json()
            assert read["actions"][0]["status"] == "executed"
            assert read["messages"][-1]["text"].startswith("已为您退款 ¥308")
    await rt.close()


async def test_a_shopper_rates_their_answered_conversation(
    client: httpx.AsyncClient, llm: ScriptedLLM
) -> None:
    llm.steps = [say("您好，在的。")]
    auth = await _token(client)
    cid = (await client.post("/v1/conversations", headers=auth)).json()["conversation_id"]
    early = await client.post(f"/v1/conversations/{cid}/rating", json={"score": 5}, headers=auth)
    assert early.status_code == 400 and "no answer" in early.json()["error"]["message"]
    await client.post(f"/v1/conversations/{cid}/messages", json={"text": "在吗"}, headers=auth)
    assert (await client.get(f"/v1/conversations/{cid}", headers=auth)).json()["rating"] is None
    r = await client.post(
        f"/v1/conversations/{cid}/rating", json={"score": 2, "comment": "慢"}, headers=auth
    )
    assert r.status_code == 200 and (r.json()["score"], r.json()["comment"]) == (2, "慢")
    r = await client.post(f"/v1/conversations/{cid}/rating", json={"score": 4}, headers=auth)
    assert r.status_code == 200
    rated = (await client.get(f"/v1/conversations/{cid}", headers=auth)).json()["rating"]
    assert (rated["score"], rated["comment"]) == (4, "")
    bad = await client.post(f"/v1/conversations/{cid}/rating", json={"score": 9}, headers=auth)
    assert bad.status_code == 400 and bad.json()["error"]["type"]
    other = await _token(client, "U2")
    r = await client.post(f"/v1/conversations/{cid}/rating", json={"score": 1}, headers=other)
    assert r.status_code == 404
    kpis = await client.get(
        "/v1/kpis", headers={"Authorization": f"Bearer {client.headers['x-api-key']}"}
    )
    assert kpis.status_code == 200, kpis.text
    csat = kpis.json()["figures"]["csat"]  # the merchant's figure
    assert (csat["value"], csat["hits"], csat["total"]) == (1.0, 1, 1)
