"""Shopper turns on the Redis queue (`XIAOER_QUEUE=redis`): the API enqueues and relays, an arq
worker runs the turn — the same answers, events and refusals as in one process, and a resend
answered once. Real Redis (`redis_url`), real arq worker; the model is scripted."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from minishop import write_bundle
from xiaoer.api.app import create_app
from xiaoer.api.auth import issue_api_key
from xiaoer.config import Settings
from xiaoer.domain.errors import BadInput
from xiaoer.llm.scripted import ScriptedLLM, call, say
from xiaoer.runtime import Runtime
from xiaoer.workers.turns import (
    FINISHED,
    LEASE_S,
    QUEUE,
    TAKEN,
    Pace,
    TurnWorker,
    _result,
    close_worker,
    worker_settings,
)


@asynccontextmanager
async def _served(
    tmp_path: Path, redis_url: str, llm: ScriptedLLM, *, jobs: int = 2, **more: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    """The API relaying to one arq worker (`jobs` turns at a time), signed in as shopper U1."""
    from conftest import NOW

    settings = Settings(home=tmp_path / "home", now=NOW, secret_key="q", guard=False,
                        redis_url=redis_url, queue="redis", understand="keywords", **more)  # fmt: skip
    rt = await Runtime.open(settings, llm=llm)
    await rt.import_shop(write_bundle(tmp_path / "bundle"))
    worker = TurnWorker(**worker_settings(settings, lambda: rt, jobs=jobs))
    running = asyncio.create_task(worker.main())
    app = create_app(settings, runtime=rt)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://q") as c:
                key = await issue_api_key(rt.sessions, "mini")
                token = await c.post("/v1/shopper-tokens", json={"shopper_id": "U1"},
                                     headers={"Authorization": f"Bearer {key}"})  # fmt: skip
                c.headers["Authorization"] = f"Bearer {token.json()['token']}"
                yield c, rt
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await close_worker(worker)
        await rt.close()


@pytest.fixture
async def queued(
    tmp_path: Path, redis_url: str, llm: ScriptedLLM
) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    async with _served(tmp_path, redis_url, llm) as served:
        yield served


async def test_a_queued_turn_answers_as_one_process_would(
    queued: tuple[httpx.AsyncClient, Runtime], llm: ScriptedLLM
) -> None:
    c, rt = queued
    cid = (await c.post("/v1/conversations")).json()["conversation_id"]
    llm.steps = [call("track_logistics", order_id="SO1001"), say("到杭州了。")]
    async with _redis(rt.settings) as redis:
        heard = redis.pubsub()
        await heard.psubscribe("xiaoer:turn:*")
        r = await c.post(f"/v1/conversations/{cid}/messages", json={"text": "SO1001 到哪了"})
        kinds: list[str] = []
        for _ in range(20):  # what was published, up to its `done`
            m = await heard.get_message(ignore_subscribe_messages=True, timeout=0.5)
            if m is not None:
                kinds.append(json.loads(m["data"])["type"])
            if kinds and kinds[-1] == "done":
                break
        await heard.aclose()
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["reply"] == "到杭州了。" and body["tool_calls"][0]["name"] == "track_logistics"
    # a JSON request waits for the answer only: the tool call and the text are not relayed
    assert kinds == ["accepted", "done"]
    # the time on the Redis queue, before the worker's own latency (a Redis round trip at least)
    assert 0 < body["queued_ms"] < 30_000
    read = (await c.get(f"/v1/conversations/{cid}")).json()
    assert [m["role"] for m in read["messages"]] == ["shopper", "assistant"]
    assert read["messages"][0]["client_key"].startswith("job:")  # a key even when none was sent


async def test_the_stream_relays_the_workers_events(
    queued: tuple[httpx.AsyncClient, Runtime], llm: ScriptedLLM
) -> None:
    c, _ = queued
    cid = (await c.post("/v1/conversations")).json()["conversation_id"]
    llm.steps = [call("track_logistics", order_id="SO1001"), say("到杭州了。")]
    async with c.stream(
        "POST", f"/v1/conversations/{cid}/messages", json={"text": "SO1001 到哪了"},
        headers={"Accept": "text/event-stream"},
    ) as r:  # fmt: skip
        text = "".join([chunk async for chunk in r.aiter_text()])
    kinds = [line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("event: ")]
    assert kinds[0] == "accepted" and kinds[-1] == "done"
    assert "tool_call" in kinds and "tool_result" in kinds and "delta" in kinds


async def test_refusals_and_resends_come_back_as_in_one_process(
    queued: tuple[httpx.AsyncClient, Runtime], llm: ScriptedLLM
) -> None:
    c, rt = queued
    missing = await c.post("/v1/conversations/nope/messages", json={"text": "你好"})
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "NotFound"
    cid = (await c.post("/v1/conversations")).json()["conversation_id"]
    llm.steps = [say("在的，您说。")]
    sent = {"text": "在吗", "client_key": "same-key"}
    first, again = await asyncio.gather(
        c.post(f"/v1/conversations/{cid}/messages", json=sent),
        c.post(f"/v1/conversations/{cid}/messages", json=sent),
    )
    assert first.status_code == again.status_code == 200
    assert first.json()["reply"] == again.json()["reply"] == "在的，您说。"
    read = (await c.get(f"/v1/conversations/{cid}")).json()
    assert [m["role"] for m in read["messages"]] == ["shopper", "assistant"]  # once


def test_the_queue_needs_redis(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="XIAOER_REDIS_URL"):
        create_app(Settings(home=tmp_path, queue="redis"))
    assert QUEUE == "xiaoer:turns"


class Blocked(ScriptedLLM):
    """Scripted, but each call waits until the test opens `gate`."""

    def __init__(self) -> None:
        super().__init__()
        self.gate, self.entered = asyncio.Event(), asyncio.Event()

    async def complete(self, *args: Any, **kwargs: Any) -> Any:
        self.entered.set()
        await self.gate.wait()
        return await super().complete(*args, **kwargs)


async def test_a_turn_no_worker_took_yet_is_held_with_its_place_and_joined_by_resends(
    tmp_path: Path, redis_url: str
) -> None:
    llm = Blocked()
    llm.steps = [say("第一个回答。"), say("第二个回答。"), say("第三个回答。")]
    async with _served(tmp_path, redis_url, llm, jobs=1, hold_after=0.5) as (c, rt):
        cids = [(await c.post("/v1/conversations")).json()["conversation_id"] for _ in range(3)]

        def send(i: int) -> Any:
            return c.post(f"/v1/conversations/{cids[i]}/messages",
                          json={"text": "在吗", "client_key": f"k{i}"})  # fmt: skip

        first = asyncio.create_task(send(0))
        await asyncio.wait_for(llm.entered.wait(), 30)  # the one job runs the first
        held = await send(1)
        assert held.status_code == 202, held.text
        body = held.json()
        assert body["held"] and body["ahead"] == 0 and body["message_id"] is None
        assert "稍候" in body["reply"]
        # the running job is not counted; the waiting one before it is
        third = await send(2)
        assert third.status_code == 202 and third.json()["ahead"] == 1
        assert held.headers["Retry-After"] == str(body["retry_after"]) and body["retry_after"] >= 1
        # the running job's in-progress mark is a short lease (arq's own: the job timeout)
        assert 0 < await in_progress_ms(rt.settings) <= LEASE_S * 1000
        again = await send(1)  # a resend joins the queued job: no second copy
        assert again.status_code == 202
        assert await rt_queue_length(rt.settings) == 3
        metrics = (await c.get("/metrics")).text
        assert "xiaoer_turn_queue_depth 3.0" in metrics
        before = await finished_count(rt.settings)
        llm.gate.set()
        assert (await first).status_code == 200
        assert await finished_count(rt.settings) == before + 1  # the line's pace counts it
        for _ in range(100):
            last = await send(1)
            if last.status_code == 200:
                break
            await asyncio.sleep(0.1)
        assert last.status_code == 200 and last.json()["reply"] == "第二个回答。"
        read = (await c.get(f"/v1/conversations/{cids[1]}")).json()
        assert [m["role"] for m in read["messages"]] == ["shopper", "assistant"]
        # the two answered are no longer taken; the third may still run
        assert await taken_count(rt.settings) <= 1


@asynccontextmanager
async def _redis(settings: Settings) -> AsyncIterator[Any]:
    from redis.asyncio import Redis

    redis = Redis.from_url(settings.redis_url)
    try:
        yield redis
    finally:
        await redis.aclose()


async def taken_count(settings: Settings) -> int:
    async with _redis(settings) as redis:
        return int(await redis.zcard(TAKEN))


async def finished_count(settings: Settings) -> int:
    async with _redis(settings) as redis:
        return int(await redis.get(FINISHED) or 0)


def test_the_lines_pace_is_measured_over_seconds_not_one_reading() -> None:
    """Turns finished per second, from the workers' count read now and then: none from one
    reading or from under 3 s; the readings of the last minute, one a second at most."""
    pace = Pace()
    assert pace.observe(100.0, 40) is None  # one reading
    assert pace.observe(101.5, 55) is None  # 1.5 s: too short to say
    assert pace.observe(104.0, 80) == 10.0  # 40 turns in 4 s
    assert pace.observe(104.2, 90) == pytest.approx(50 / 4.2)  # not kept: < 1 s after the last
    assert pace.observe(161.0, 700) == pytest.approx(645 / 59.5)  # from 101.5 s: 100 s is too old
    assert Pace().observe(0.0, 5) is None and pace.observe(200.0, 700) is None  # nothing new


def test_a_newer_workers_result_reaches_the_shopper_without_the_fields_it_added() -> None:
    """While a deployment rolls over, a worker may already send a field this API does not
    know: the result is read without it, not failed."""
    done = {"reply": "好的", "conversation_id": "c1", "message_id": 7, "waited_ms": 120,
            "tool_calls": [{"name": "track_logistics", "arguments": {}, "result": "{}", "ok": True}],
            "added_later": {"x": 1}}  # fmt: skip
    result = _result(done)
    assert (result.reply, result.message_id, result.waited_ms) == ("好的", 7, 120)
    assert result.tool_calls[0].name == "track_logistics"
    assert not hasattr(result, "added_later")


async def test_a_job_taken_by_a_worker_that_dies_before_running_it_waits_a_lease(
    tmp_path: Path, redis_url: str
) -> None:
    """kill -9 just after a worker took a job — its in-progress mark set, the turn not yet
    renewing it: the mark is the lease, so another worker runs the turn within `LEASE_S`, not
    after arq's job timeout and 10 s (a shopper was held for minutes in the kill-worker load)."""
    import uuid

    from arq.connections import RedisSettings, create_pool
    from arq.constants import in_progress_key_prefix

    settings = Settings(home=tmp_path / "home", secret_key="q", redis_url=redis_url,
                        queue="redis")  # fmt: skip
    rt = await Runtime.open(settings, llm=ScriptedLLM())
    pool = await create_pool(RedisSettings.from_dsn(redis_url), default_queue_name=QUEUE)
    worker = TurnWorker(**worker_settings(settings, lambda: rt, jobs=1), redis_pool=pool)
    job = f"lease-{uuid.uuid4().hex}"

    async def died(_job_id: str, _score: int) -> None:
        """The worker is gone before the turn's first renewal."""

    worker.run_job = died  # type: ignore[method-assign]
    try:
        assert await pool.enqueue_job("run_turn", {"job": job}, _job_id=job) is not None
        await worker.start_jobs([job.encode()])
        left = await pool.pttl(in_progress_key_prefix + job)
        assert 0 < left <= LEASE_S * 1000
    finally:
        await pool.delete(in_progress_key_prefix + job)
        await pool.zrem(QUEUE, job)
        await pool.aclose()
        await rt.close()


async def test_a_running_turn_renews_its_lease_past_the_first(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A turn longer than the lease keeps its in-progress mark: renewed every fifth of a lease
    (the first renewal a fifth of a lease after the job was taken, not at once), so no other
    worker runs it again while it lives."""
    import xiaoer.workers.turns as turns

    monkeypatch.setattr(turns, "LEASE_S", 1.0)
    llm = Blocked()
    llm.steps = [say("在的，您说。")]
    async with _served(tmp_path, redis_url, llm, jobs=1) as (c, rt):
        cid = (await c.post("/v1/conversations")).json()["conversation_id"]
        sent = asyncio.create_task(
            c.post(f"/v1/conversations/{cid}/messages", json={"text": "在吗", "client_key": "k"})
        )
        await asyncio.wait_for(llm.entered.wait(), 30)
        await asyncio.sleep(2.5)  # past the lease the mark was set to as the job was taken
        assert 0 < await in_progress_ms(rt.settings) <= 1000
        llm.gate.set()
        answered = await sent
        assert answered.status_code == 200 and answered.json()["reply"] == "在的，您说。"


async def in_progress_ms(settings: Settings) -> int:
    """Milliseconds left on the one running job's in-progress mark."""
    from arq.constants import in_progress_key_prefix

    async with _redis(settings) as redis:
        keys = await redis.keys(in_progress_key_prefix + "*")
        assert len(keys) == 1
        return int(await redis.pttl(keys[0]))


async def rt_queue_length(settings: Settings) -> int:
    from xiaoer.workers.turns import QueuedTurns

    queue = QueuedTurns(settings.redis_url, None)
    try:
        return await queue.depth()
    finally:
        await queue.close()


async def test_a_turn_whose_events_cannot_be_relayed_still_stores_its_reply(
    runtime: Runtime, llm: ScriptedLLM
) -> None:
    """Redis gone mid-turn: the events are dropped (logged), the turn goes on and stores its
    reply, which the shopper's resend gets."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    from xiaoer.store.repositories import ConversationRepository
    from xiaoer.workers.turns import run_turn

    class Gone:
        async def publish(self, *_args: object, **_kw: object) -> None:
            raise RedisConnectionError("Error 111 connecting")

        zadd = publish  # the line's places and pace miss the turn, and nothing else does

        def pipeline(self, **_kw: object) -> GonePipeline:
            return GonePipeline()

    class GonePipeline:
        async def __aenter__(self) -> GonePipeline:
            return self

        async def __aexit__(self, *_exc: object) -> None:
            return None

        def __getattr__(self, _command: str) -> Any:
            return lambda *_args: self

        async def execute(self) -> None:
            raise RedisConnectionError("Error 111 connecting")

    llm.steps = [say("您好！")]
    cid = await runtime.assistant().start("mini", "U1")
    payload = {"job": "j1", "shop_id": "mini", "shopper_id": "U1", "text": "在吗",
               "conversation_id": cid, "client_key": "k1"}  # fmt: skip
    await run_turn({"rt": runtime, "redis": Gone()}, payload)
    async with runtime.sessions() as s:
        rows = await ConversationRepository(s, "mini").messages(cid)
    assert [(r.role, r.content) for r in rows] == [("shopper", "在吗"), ("assistant", "您好！")]


async def test_a_poll_walks_past_running_turns_in_one_round_trip(
    tmp_path: Path, redis_url: str
) -> None:
    """The head of the line is the turns being run (arq keeps them queued until they finish):
    a worker with a free slot starts the first one that waits, and opens arq's per-job
    transaction for that one only, not for each running turn before it."""
    from arq import create_pool
    from arq.connections import RedisSettings
    from arq.constants import in_progress_key_prefix
    from arq.worker import func

    queue = f"xiaoer:test:{tmp_path.name}"
    pool = await create_pool(RedisSettings.from_dsn(redis_url))
    ran: list[str] = []

    async def run_turn(ctx: dict[str, Any], payload: dict[str, Any]) -> None:
        ran.append(payload["job"])

    settings = Settings(home=tmp_path / "home", redis_url=redis_url, queue="redis")
    worker = TurnWorker(**(worker_settings(settings, jobs=4) | {
        "functions": [func(run_turn, name="run_turn")], "queue_name": queue, "redis_pool": pool,
    }))  # fmt: skip
    try:
        for job in ("running-1", "running-2", "waiting"):
            await pool.enqueue_job("run_turn", {"job": job}, _job_id=job, _queue_name=queue)
        for job in ("running-1", "running-2"):  # taken by another worker
            await pool.psetex(in_progress_key_prefix + job, 60_000, b"1")
        watched = await _watches(pool)
        await worker.start_jobs(await pool.zrange(queue, 0, -1))
        await asyncio.gather(*worker.tasks.values())
        assert ran == ["waiting"]
        assert await _watches(pool) - watched == 1  # arq's check, on the waiting one only
        asked = await _calls(pool, "exists")
        await worker.start_jobs(await pool.zrange(queue, 0, -1))  # the next poll, at once
        assert await _calls(pool, "exists") == asked  # the running ones are remembered
    finally:
        await pool.delete(queue, *(in_progress_key_prefix + j for j in ("running-1", "running-2")))
        await close_worker(worker)
        await pool.aclose()


async def _watches(pool: Any) -> int:
    """WATCH commands the server has run (arq opens one per job it checks)."""
    return await _calls(pool, "watch")


async def _calls(pool: Any, command: str) -> int:
    return int((await pool.info("commandstats")).get(f"cmdstat_{command}", {}).get("calls", 0))
