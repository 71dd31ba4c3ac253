"""GET /v1/kpis: the router in api/kpis.py mounted on the app the way app.py mounts the
inbox router (a merchant-key dependency), figures as the service computes them, errors in the
API's error shape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import Header

from xiaoer.api.app import create_app
from xiaoer.api.auth import issue_api_key, shop_for_key
from xiaoer.api.kpis import kpis_router
from xiaoer.config import Settings
from xiaoer.domain.errors import Unauthorized
from xiaoer.runtime import Runtime
from xiaoer.store.repositories import ConversationRepository

SH = ZoneInfo("Asia/Shanghai")


@pytest.fixture
async def client(settings: Settings, runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async def merchant(authorization: Annotated[str | None, Header()] = None) -> str:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise Unauthorized("missing `Authorization: Bearer …` header")
        return await shop_for_key(runtime.sessions, authorization.split(" ", 1)[1].strip())

    app = create_app(settings, runtime=runtime)
    app.include_router(kpis_router(lambda: runtime, merchant))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            key = await issue_api_key(runtime.sessions, "mini")
            c.headers["Authorization"] = f"Bearer {key}"
            yield c


async def test_kpis_over_http(client: httpx.AsyncClient, runtime: Runtime) -> None:
    async with runtime.sessions() as s:
        repo = ConversationRepository(s, "mini")
        for n, wait in enumerate((10, 40)):  # 京东: 10 s in time, 40 s late
            asked = datetime(2026, 11, 20, 10 + n, 0, tzinfo=SH)
            await repo.create(f"c{n}", "U1", "api", asked)
            q = await repo.add_message(f"c{n}", "shopper", "在吗", asked)
            answered = asked.replace(second=wait)
            await repo.add_message(f"c{n}", "assistant", "在的", answered, reply_to=q.id)
        await s.commit()
    r = await client.get("/v1/kpis", params={"since": "2026-11-20", "until": "2026-11-20"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["shop_id"] == "mini" and len(body["daily"]) == 1
    jd = body["figures"]["jd_30s_answer_rate"]
    assert (jd["value"], jd["hits"], jd["total"], jd["label"]) == (0.5, 1, 2, "京东 30秒应答率")
    assert body["figures"]["taobao_3min_response_rate"]["value"] == 1.0
    r = await client.get("/v1/kpis")  # the 30 days up to the frozen today, 2026-11-20
    assert r.status_code == 200 and len(r.json()["daily"]) == 30


async def test_kpi_errors_are_in_the_error_shape(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/kpis", params={"since": "yesterday"})
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "BadInput" and "not a date" in r.json()["error"]["message"]
    r = await client.get("/v1/kpis", params={"since": "2026-11-21", "until": "2026-11-20"})
    assert r.status_code == 400 and "is after" in r.json()["error"]["message"]
    r = await client.get("/v1/kpis", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and r.json()["error"]["type"] == "Unauthorized"
