"""An outage of the database is a 503 `Unavailable` with `Retry-After` — on the JSON and on the
SSE request alike — never a 500, and the API serves again once the database is back. A real
PostgreSQL of the test's own, stopped and started under the app."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from minishop import write_bundle
from xiaoer.api.app import create_app
from xiaoer.api.auth import issue_api_key
from xiaoer.api.errors import OUTAGE_RETRY, outage_of
from xiaoer.bench.servers import LocalPostgres, ServerMissing
from xiaoer.config import Settings
from xiaoer.llm.scripted import ScriptedLLM, say
from xiaoer.runtime import Runtime


@pytest.mark.postgres
async def test_a_database_restart_is_a_503_then_the_api_serves_again(tmp_path: Path) -> None:
    from conftest import NOW

    try:
        server = LocalPostgres()
    except ServerMissing as exc:
        pytest.skip(str(exc))
    await asyncio.to_thread(server.start)
    try:
        settings = Settings(home=tmp_path / "home", database_url=server.url, now=NOW,
                            secret_key="o", guard=False, embeddings=False)  # fmt: skip
        rt = await Runtime.open(settings, llm=ScriptedLLM(script=lambda *_a: say("您好！")))
        await rt.import_shop(write_bundle(tmp_path / "bundle"))
        key = await issue_api_key(rt.sessions, "mini")
        app = create_app(settings, runtime=rt)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://o") as c:
                token = (await c.post("/v1/shopper-tokens", json={"shopper_id": "U1"},
                                      headers={"Authorization": f"Bearer {key}"})).json()  # fmt: skip
                c.headers["Authorization"] = f"Bearer {token['token']}"
                cid = (await c.post("/v1/conversations")).json()["conversation_id"]
                send = f"/v1/conversations/{cid}/messages"

                await asyncio.to_thread(server.stop, "fast")
                down = [
                    await c.post("/v1/conversations"),
                    await c.post(send, json={"text": "在吗", "client_key": "k1"}),
                    await c.post(
                        send,
                        json={"text": "在吗", "client_key": "k1"},
                        headers={"Accept": "text/event-stream"},
                    ),  # fmt: skip
                    await c.get(f"/v1/conversations/{cid}"),
                ]
                for r in down:
                    assert r.status_code == 503, (r.request.url, r.status_code, r.text)
                    assert r.json()["error"]["type"] == "Unavailable"
                    assert r.headers["Retry-After"] == OUTAGE_RETRY
                ready = await c.get("/readyz")
                assert (
                    ready.status_code == 503 and ready.json()["error"]["checks"]["database"] != "ok"
                )

                await asyncio.to_thread(server.start)
                deadline = time.monotonic() + 30
                while (
                    r := await c.post(send, json={"text": "在吗", "client_key": "k1"})
                ).status_code == 503:
                    assert time.monotonic() < deadline, "the API did not serve again"
                    await asyncio.sleep(0.5)
                assert r.status_code == 200 and r.json()["reply"] == "您好！"
        await rt.close()
    finally:
        await asyncio.to_thread(server.close)


def test_a_bug_is_not_mistaken_for_an_outage() -> None:
    from sqlalchemy.exc import OperationalError

    assert outage_of(KeyError("x")) is None
    assert outage_of(OperationalError("SELECT 1", {}, Exception("no such table: t"))) is None
    assert outage_of(OperationalError("SELECT 1", {}, Exception("database is locked"))) is not None
    try:
        try:
            raise ConnectionRefusedError(111, "Connect call failed")
        except ConnectionRefusedError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        assert outage_of(outer) is not None
