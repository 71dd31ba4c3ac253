"""`/metrics` (Prometheus text, one registry per app, optional bearer token) and `/readyz`
(the database, and Redis when configured, else 503 in the error shape)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import create_async_engine

from xiaoer.agent.events import TurnResult
from xiaoer.api.app import create_app
from xiaoer.config import Settings
from xiaoer.llm.scripted import ScriptedLLM, call, say
from xiaoer.observability.metrics import Metrics
from xiaoer.runtime import Runtime

MESSAGES = "/v1/conversations/{conversation_id}/messages"


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, frozenset(labels.items())), 0.0)


async def _shopper(c: httpx.AsyncClient) -> tuple[dict[str, str], str]:
    token = (await c.post("/v1/shopper-tokens", json={"shopper_id": "U1"})).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    cid = (await c.post("/v1/conversations", headers=auth)).json()["conversation_id"]
    return auth, cid


async def _client(settings: Settings, runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, runtime=runtime)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            yield c


async def test_a_turn_is_counted_timed_and_its_tokens_added(
    merchant: httpx.AsyncClient, llm: ScriptedLLM
) -> None:
    llm.steps = [
        replace(call("track_logistics", order_id="SO1001"), tokens_in=300, tokens_out=20),
        replace(say("到杭州了。"), tokens_in=340, tokens_out=12),
    ]
    auth, cid = await _shopper(merchant)
    before = (await merchant.get("/metrics")).text
    assert value(before, "xiaoer_turns_total", outcome="answered") == 0
    r = await merchant.post(f"/v1/conversations/{cid}/messages", json={"text": "SO1001 到哪了"},
                            headers=auth)  # fmt: skip
    assert r.status_code == 200, r.text

    r = await merchant.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert value(text, "xiaoer_turns_total", outcome="answered") == 1
    assert value(text, "xiaoer_turn_duration_seconds_count") == 1
    assert value(text, "xiaoer_turn_duration_seconds_bucket", le="180.0") == 1
    assert value(text, "xiaoer_turn_waited_seconds_bucket", le="0.0") == 1  # alone: no line
    assert value(text, "xiaoer_llm_prompt_tokens_total") == 640
    assert value(text, "xiaoer_llm_completion_tokens_total") == 32
    assert value(text, "xiaoer_turns_in_flight") == 0
    assert value(text, "xiaoer_http_requests_total", method="POST", route=MESSAGES,
                 status="2xx") == 1  # fmt: skip
    assert not any(cid in route for (_, labels) in samples(text) for _, route in labels)


async def test_a_streamed_turn_and_a_refused_one(
    merchant: httpx.AsyncClient, llm: ScriptedLLM
) -> None:
    llm.steps = [say("您好，请问有什么可以帮您？")]
    auth, cid = await _shopper(merchant)
    r = await merchant.post(f"/v1/conversations/{cid}/messages?stream=true",
                            json={"text": "你好"}, headers=auth)  # fmt: skip
    assert "event: done" in r.text
    r = await merchant.post("/v1/conversations/nope/messages", json={"text": "你好"},
                            headers=auth)  # fmt: skip
    assert r.status_code == 404
    text = (await merchant.get("/metrics")).text
    assert value(text, "xiaoer_turns_total", outcome="answered") == 1
    assert value(text, "xiaoer_turns_total", outcome="refused") == 1
    assert value(text, "xiaoer_turn_duration_seconds_count") == 1  # a refusal is not timed
    assert value(text, "xiaoer_http_requests_total", method="POST", route=MESSAGES,
                 status="4xx") == 1  # fmt: skip
    assert value(text, "xiaoer_http_requests_total", method="GET", route="unmatched",
                 status="4xx") == 0  # fmt: skip
    await merchant.get("/no/such/path")
    text = (await merchant.get("/metrics")).text
    assert value(text, "xiaoer_http_requests_total", method="GET", route="unmatched",
                 status="4xx") == 1  # fmt: skip


async def test_each_app_has_its_own_registry(settings: Settings, runtime: Runtime) -> None:
    async for one in _client(settings, runtime):
        async for two in _client(settings, runtime):
            await one.get("/healthz")
            text = (await two.get("/metrics")).text
            assert value(text, "xiaoer_http_requests_total", method="GET", route="/healthz",
                         status="2xx") == 0  # fmt: skip


@pytest.mark.parametrize(
    ("header", "status"),
    [(None, 401), ("Bearer wrong", 401), ("Basic czNjcmV0", 401), ("Bearer s3cret", 200)],
)
async def test_the_metrics_token(
    settings: Settings, runtime: Runtime, header: str | None, status: int
) -> None:
    guarded = settings.model_copy(update={"metrics_token": "s3cret"})
    async for c in _client(guarded, runtime):
        r = await c.get("/metrics", headers={"Authorization": header} if header else {})
        assert r.status_code == status
        if status == 401:
            assert r.json()["error"]["type"] == "Unauthorized"
        else:
            assert "xiaoer_turns_total" in r.text


async def test_ready_when_the_database_answers(merchant: httpx.AsyncClient) -> None:
    r = await merchant.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "checks": {"database": "ok"}}


async def test_not_ready_when_the_database_does_not(
    settings: Settings, runtime: Runtime, tmp_path: Path
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    working = runtime.engine
    runtime.engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/a-file/xiaoer.db")
    try:
        async for c in _client(settings, runtime):
            r = await c.get("/readyz")
    finally:
        await runtime.engine.dispose()
        runtime.engine = working
    assert r.status_code == 503
    error = r.json()["error"]
    assert error["type"] == "Unavailable" and "database" in error["message"]
    assert error["checks"]["database"].startswith("failed")


async def test_not_ready_when_configured_redis_does_not_answer(
    settings: Settings, runtime: Runtime
) -> None:
    with_redis = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    async for c in _client(with_redis, runtime):
        r = await c.get("/readyz")
    assert r.status_code == 503
    checks = r.json()["error"]["checks"]
    assert checks["database"] == "ok" and checks["redis"] != "ok"


def test_guard_verdicts_handoffs_and_resends() -> None:
    metrics = Metrics(queued=True)
    guard = [
        {"layer": "input", "flags": ["abuse"], "mood": "angry", "asks_human": False},
        {"layer": "rules", "passed": True, "claims": [], "ms": 1},
        {"layer": "judge", "passed": False, "claims": ["包邮"], "ms": 9},
        {"layer": "markup", "passed": False, "claims": ["<a>"], "fixed": True},
    ]
    handed = TurnResult("抱歉…", "c1", 2, tokens_in=50, guard=guard, handoff={"reason": "anger"},
                        waited_ms=1500, model_ms=600, queued_ms=200)  # fmt: skip
    metrics.finished(handed, 2.5)
    metrics.finished(replace(handed, replayed=True), 0.01)  # a resend is not another turn
    text = metrics.render().decode()
    assert value(text, "xiaoer_turns_total", outcome="handed_over") == 1
    assert value(text, "xiaoer_turns_total", outcome="answered") == 0
    assert value(text, "xiaoer_turn_duration_seconds_bucket", le="2.0") == 0
    assert value(text, "xiaoer_turn_duration_seconds_bucket", le="3.0") == 1
    # 1.5 s of it in line for slots
    assert value(text, "xiaoer_turn_waited_seconds_bucket", le="1.0") == 0
    assert value(text, "xiaoer_turn_waited_seconds_bucket", le="2.0") == 1
    assert value(text, "xiaoer_turn_waited_seconds_sum") == 1.5
    # 0.6 s in the model's calls, 0.2 s on the Redis queue
    assert value(text, "xiaoer_turn_model_seconds_bucket", le="0.5") == 0
    assert value(text, "xiaoer_turn_model_seconds_bucket", le="1.0") == 1
    assert value(text, "xiaoer_turn_queued_seconds_sum") == 0.2
    alone = Metrics()  # one process: no Redis queue, none observed
    alone.finished(handed, 2.5)
    assert value(alone.render().decode(), "xiaoer_turn_queued_seconds_count") == 0
    assert value(text, "xiaoer_handoffs_total", reason="anger") == 1
    assert value(text, "xiaoer_llm_prompt_tokens_total") == 50
    verdicts = {("input", "flagged"), ("rules", "passed"), ("judge", "failed"), ("markup", "fixed")}
    for layer, verdict in verdicts:
        assert value(text, "xiaoer_guard_verdicts_total", layer=layer, verdict=verdict) == 1
