"""`xiaoer loadtest`: the LLM stub speaks the protocol the real client reads, and a small load
against real serve/worker processes loses, doubles and repeats nothing — with a worker killed
mid-load on PostgreSQL + Redis."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from endpoint_fixture import asgi_endpoint
from xiaoer.bench.load import Cluster, Setup, _per_stub, _tree, run_setup
from xiaoer.bench.stub_llm import create_stub, decide
from xiaoer.domain.errors import UpstreamError
from xiaoer.llm.base import ChatMessage, ToolSpec
from xiaoer.llm.gate import GatedLLM, LLMGate
from xiaoer.llm.limit import Backoff
from xiaoer.llm.openai_compat import OpenAICompatLLM

TOOLS = [{"type": "function", "function": {"name": n}} for n in
         ("cancel_order", "track_logistics", "search_products")]  # fmt: skip


def _user(text: str) -> dict[str, object]:
    return {"messages": [{"role": "user", "content": text}], "tools": TOOLS}


def test_the_stub_calls_the_plain_tool_for_each_kind_of_message() -> None:
    assert decide(_user("帮我取消订单 SO2611190048")) == {
        "call": "cancel_order", "arguments": {"order_id": "SO2611190048", "reason": "不想要了"}
    }  # fmt: skip
    assert decide(_user("我的订单 SO2611190048 到哪了？"))["call"] == "track_logistics"
    assert decide(_user("有没有耳机？")) == {
        "call": "search_products",
        "arguments": {"keyword": "耳机"},
    }
    after = {"messages": [{"role": "tool", "content": "…"}], "tools": TOOLS}
    assert "text" in decide(after)
    forced = {"messages": [{"role": "user", "content": "你好"}], "tool_choice": "required",
              "tools": [{"type": "function", "function": {"name": "read_message"}}]}  # fmt: skip
    assert decide(forced) == {"call": "read_message", "arguments": {}}


async def test_the_real_client_reads_the_stubs_stream_and_its_faults() -> None:
    async with asgi_endpoint(create_stub(latency=0)) as root:
        llm = OpenAICompatLLM(base_url=f"{root}/v1", model="stub", api_key="x")
        spec = ToolSpec("track_logistics", "查物流", {"type": "object", "properties": {}})
        done = await llm.complete([ChatMessage("user", "订单 SO2611190048 到哪了")], [spec])
        assert [(c.name, c.arguments) for c in done.tool_calls] == [
            ("track_logistics", {"order_id": "SO2611190048"})
        ]
        assert done.tokens_in == 100
        async with httpx.AsyncClient(base_url=root) as http:
            for mode in ("error", "garbage"):  # a 500, and a stream that is not JSON
                assert (await http.post("/fault", json={"mode": mode})).status_code == 200
                with pytest.raises(UpstreamError):
                    await llm.complete([ChatMessage("user", "你好")], [spec])
            assert (await http.post("/fault", json={"mode": "sideways"})).status_code == 400
        await llm.aclose()


async def test_a_small_load_on_sqlite_answers_every_message_once() -> None:
    result = await run_setup(Setup(store="sqlite", conversations=6, stub_latency=0.05, think=1))
    assert result["messages_sent"] >= 12
    assert result["statuses"] == {"200": result["messages_sent"]}
    assert result["held"] == 0
    assert (result["lost"], result["answered_twice"], result["stored_twice"]) == (0, 0, 0)
    assert result["actions_executed"] == result["cancellations"]
    assert result["actions_executed_twice"] == result["orders_changed_twice"] == 0
    assert result["latency_ms"]["p99"] >= result["latency_ms"]["p50"] > 0
    # six conversations never fill the model's slots: none of the overhead is waiting for them
    assert result["waited_ms"] == {"p50": 0, "p95": 0, "p99": 0}
    assert result["overhead_less_waits_ms"] == result["overhead_ms"]
    # one process: nothing on a Redis queue; the rest is the model calls' time past the stub's
    # and the turns' own work
    assert result["queued_ms"] == {"p50": 0, "p95": 0, "p99": 0}
    assert 0 < result["own_work_ms"]["p50"] <= result["overhead_ms"]["p50"]
    assert result["model_beyond_stub_ms"]["p99"] <= result["overhead_ms"]["p99"]
    # the overhead split by kind of message and by when it was sent: every answer in one of each
    split = result["overhead_split_ms"]
    assert set(split["by_kind"]) <= {"cancel", "confirm", "parcel", "pre-sales", "thanks"}
    assert "thanks" in split["by_kind"]
    assert split["by_kind"].get("confirm", {}).get("n", 0) >= result["cancellations"]  # + resends
    for part in (split["by_kind"], split["by_when"]):
        assert sum(v["n"] for v in part.values()) == result["statuses"]["200"]
        assert all(v["p95"] >= v["p50"] for v in part.values())
    assert result["rss_peak_mb"] > 0
    cpu = result["cpu_s"]  # by process: the API ran the turns (and the stub only answered)
    assert set(cpu) == {"load client", "stub", "api", "turn workers"}
    assert cpu["api"] > cpu["stub"] and cpu["turn workers"] == 0
    # the serving processes' CPU in the stub's units: what compares runs on a machine whose
    # speed moves
    assert result["server_cpu_per_stub_cpu"] > 1


def test_sigterm_stops_a_loadtest_with_the_servers_it_started(tmp_path: Path) -> None:
    """`timeout`, a supervisor or `kill` stops `xiaoer loadtest` with SIGTERM: the servers it
    started stop with it and their folder goes — as with Ctrl-C — and it ends by the signal.
    (It left the stub, the API and their folder behind: SIGTERM ended Python at once.)"""
    import os

    log = tmp_path / "stderr"
    env = dict(os.environ, TMPDIR=str(tmp_path))
    started: list[int] = []
    with log.open("wb") as stderr:
        run = subprocess.Popen(
            [sys.executable, "-m", "xiaoer", "loadtest", "--store", "sqlite",
             "--conversations", "40", "--think", "5"],
            stdout=subprocess.DEVNULL, stderr=stderr, env=env,
        )  # fmt: skip
        try:
            for _ in range(1200):  # until the servers are up and the load has begun
                if "40 conversations" in log.read_text(errors="replace") or run.poll() is not None:
                    break
                time.sleep(0.1)
            assert run.poll() is None, log.read_text(errors="replace")
            started = [pid for pid in _tree([run.pid]) if pid != run.pid]
            assert len(started) >= 2  # the stub and the API
            assert list(tmp_path.glob("xiaoer-load-*"))
            run.send_signal(signal.SIGTERM)
            assert run.wait(timeout=90) == -signal.SIGTERM
            assert not _tree(started)  # none of them, nor what they started, still runs
            assert not list(tmp_path.glob("xiaoer-load-*"))
        finally:  # nothing left running when this fails
            for pid in [run.pid, *started]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            run.wait()


def test_a_process_a_fault_killed_keeps_the_cpu_it_used(tmp_path: Path) -> None:
    """/proc forgets a killed process: the CPU it used up to the fault is kept (`retire`), so
    that a role's CPU never falls when a fault replaces one of its processes."""
    cluster = Cluster(Setup(store="sqlite"), tmp_path)
    # 0.5 s of CPU, then asleep: /proc counts in ticks, so wait for 0.3 of it
    busy = "import time\nend = time.process_time() + 0.5\nwhile time.process_time() < end: pass\ntime.sleep(60)"
    cluster.procs["worker0"] = subprocess.Popen([sys.executable, "-c", busy])
    try:
        for _ in range(200):  # until it has spent 0.3 s
            if (used := cluster.cpu()["turn workers"]) >= 0.3:
                break
            time.sleep(0.05)
        assert used >= 0.3
        cluster.retire("turn workers", [cluster.procs["worker0"].pid])
        cluster.procs["worker0"].send_signal(signal.SIGKILL)
        cluster.procs["worker0"].wait()
        assert cluster.cpu()["turn workers"] >= used  # gone from /proc, still counted
    finally:
        cluster.close()


def test_the_servers_cpu_is_also_given_in_the_stubs_units() -> None:
    """The load client is not a server; without stub time there is nothing to compare with."""
    cpu = {"load client": 9.0, "stub": 2.0, "api": 3.0, "turn workers": 5.0,
           "postgres": 1.0, "redis": 1.0}  # fmt: skip
    assert _per_stub(cpu) == 5.0
    assert _per_stub({"stub": 0.0, "api": 1.0}) is None


async def test_with_one_model_slot_shoppers_are_held_then_answered_once() -> None:
    setup = Setup(store="sqlite", conversations=8, stub_latency=0.4, think=0, slots=1,
                  hold_after=0.2)  # fmt: skip
    result = await run_setup(setup)
    assert result["held"] > 0 and result["apologies"] == 0
    # an answer that waited in line longer than the hold (0.2 s) was held: those answered at
    # once waited less (a held one's answer is the stored reply, and counts apart)
    assert result["waited_ms"]["p99"] <= 300
    assert result["statuses"] == {"200": result["messages_sent"]}
    assert (result["lost"], result["answered_twice"], result["stored_twice"]) == (0, 0, 0)
    assert result["actions_executed"] == result["cancellations"]
    assert result["first_answer_ms"]["p50"] < result["latency_ms"]["p99"]


@pytest.mark.postgres
@pytest.mark.parametrize("fault", ["kill-worker", "restart-redis"])
async def test_a_worker_killed_or_redis_restarted_mid_load_loses_and_doubles_nothing(
    fault: str,
) -> None:
    """kill -9 of a turn worker: its running turn is run again by another within its lease.
    Redis restarted (its queue lost): the workers connect again and resends are answered."""
    setup = Setup(store="postgres", api_workers=1, turn_workers=2, conversations=8,
                  stub_latency=0.2, fault=fault, fault_at=1.0, deadline=10.0, think=1)  # fmt: skip
    result = await run_setup(setup)
    assert (result["lost"], result["answered_twice"], result["stored_twice"]) == (0, 0, 0)
    assert result["actions_executed_twice"] == result["orders_changed_twice"] == 0
    assert set(result["statuses"]) == {"200"}
    assert result["recovery_s"] is not None and result["recovery_s"] < 60
    assert {"postgres", "redis"} <= set(result["cpu_s"]) and result["cpu_s"]["turn workers"] > 0


async def test_a_stub_at_capacity_answers_429_and_the_model_slots_back_off() -> None:
    async with asgi_endpoint(create_stub(latency=0.3, capacity=2)) as root:
        async with httpx.AsyncClient(base_url=root) as http:
            body = {"messages": [{"role": "user", "content": "你好"}], "stream": True}
            answers = await asyncio.gather(
                *(http.post("/v1/chat/completions", json=body) for _ in range(3))
            )
            assert sorted(r.status_code for r in answers) == [200, 200, 429]
        backoff, gate = Backoff(8), LLMGate(8)
        backoff.attach(gate)
        llm = GatedLLM(OpenAICompatLLM(base_url=f"{root}/v1", model="stub", api_key="x"), gate)
        said = await asyncio.gather(
            *(llm.complete([ChatMessage("user", "你好")], []) for _ in range(8)),
            return_exceptions=True,
        )
        busy = [e for e in said if isinstance(e, UpstreamError)]
        assert busy and all(e.overloaded and "HTTP 429" in e.message for e in busy)
        assert gate.slots == backoff.slots == 6  # cut once for the calls sent together
        await llm.inner.aclose()
