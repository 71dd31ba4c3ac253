"""Backpressure: with the model's slots taken, a shopper's message waits in line for it. A JSON
request that waited is answered with the holding reply and its place in line (202) while its
turn goes on; a resend with the same key gets the answer once there is one; an SSE stream is
told its place (`queued`) and then gets the answer; the time in line does not count against
the turn's deadline; `/metrics` shows the line."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from conftest import NOW
from minishop import write_bundle
from xiaoer.agent.bounded import HOLDING, HOLDING_NEXT
from xiaoer.api.app import RETRY_S, create_app
from xiaoer.api.auth import issue_api_key
from xiaoer.config import Settings
from xiaoer.llm.base import ChatMessage, Completion, Mode, OnText, ToolSpec
from xiaoer.llm.scripted import say
from xiaoer.runtime import Runtime


@dataclass
class Slow:
    """A model that answers each call after `delay_s`, or when the test opens `gate`."""

    delay_s: float = 0.0
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    calls: int = 0
    name: str = "slow"

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolSpec],
        *,
        mode: Mode = "auto",
        max_tokens: int = 384,
        on_text: OnText | None = None,
    ) -> Completion:
        self.calls += 1
        self.entered.set()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        else:
            await self.gate.wait()
        return say(f"好的，这是第 {self.calls} 个回答。")


@asynccontextmanager
async def _client(
    tmp_path: Path, llm: Slow, **settings: object
) -> AsyncIterator[httpx.AsyncClient]:
    config = Settings(
        home=tmp_path / "home", now=NOW, secret_key="s", guard=False, embeddings=False,
        understand="keywords", **({"llm_slots": 1} | settings),
    )  # fmt: skip
    rt = await Runtime.open(config, llm=llm)
    await rt.import_shop(write_bundle(tmp_path / "bundle"))
    app = create_app(config, runtime=rt)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            c.headers["Authorization"] = f"Bearer {await issue_api_key(rt.sessions, 'mini')}"
            yield c
    await rt.close()


async def _shopper(c: httpx.AsyncClient, shopper: str) -> tuple[dict[str, str], str]:
    token = (await c.post("/v1/shopper-tokens", json={"shopper_id": shopper})).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    return auth, (await c.post("/v1/conversations", headers=auth)).json()["conversation_id"]


def _gauge(text: str, name: str) -> float:
    line = next(x for x in text.splitlines() if x.startswith(name + " "))
    return float(line.split()[1])


async def test_a_message_in_line_gets_the_holding_reply_then_its_answer(tmp_path: Path) -> None:
    llm = Slow()
    async with _client(tmp_path, llm, hold_after=0.1) as c:
        people = [await _shopper(c, s) for s in ("U1", "U2", "U1")]

        def send(i: int, **headers: str) -> asyncio.Task[httpx.Response]:
            auth, cid = people[i]
            return asyncio.create_task(
                c.post(
                    f"/v1/conversations/{cid}/messages",
                    headers=auth | headers,
                    json={"text": "在吗", "client_key": f"k{i}"},
                )  # fmt: skip
            )

        first = send(0)
        await asyncio.wait_for(llm.entered.wait(), 30)  # U1's call holds the one slot
        second = await send(1)
        third = await send(2)
        assert second.status_code == third.status_code == 202, (second.text, third.text)
        held = second.json()
        assert held["held"] is True and held["ahead"] == 0 and held["reply"] == HOLDING_NEXT
        assert held["client_key"] == "k1" and held["message_id"] > 0
        # the line has not moved yet: ask again in the default interval
        assert second.headers["Retry-After"] == str(held["retry_after"]) == str(RETRY_S)
        assert third.json()["ahead"] == 1 and third.json()["reply"] == HOLDING.format(ahead=1)
        metrics = (await c.get("/metrics")).text
        assert _gauge(metrics, "xiaoer_llm_calls_waiting") == 2
        assert _gauge(metrics, "xiaoer_llm_calls_running") == 1
        assert _gauge(metrics, "xiaoer_llm_slots") == 1
        assert _gauge(metrics, "xiaoer_turns_held_total") == 2

        streamed = send(1, Accept="text/event-stream")  # U2 resends, streaming: told its place
        still = await send(2)  # U3 resends as JSON: still in line, held again
        assert still.status_code == 202 and still.json()["ahead"] == 1
        llm.gate.set()
        answered = await first
        assert answered.status_code == 200 and not answered.json()["fallback"]
        frames = (await streamed).text
        assert "event: queued" in frames and HOLDING_NEXT in frames and "event: done" in frames
        for _ in range(50):  # the held turns go on without their requests
            last = await send(2)
            if last.status_code == 200:
                break
            await asyncio.sleep(0.05)
        assert last.status_code == 200 and last.json()["replayed"] is True
        assert llm.calls == 3  # one model call per message: resends ran no turn
        for auth, cid in people:
            read = (await c.get(f"/v1/conversations/{cid}", headers=auth)).json()
            assert [m["role"] for m in read["messages"]] == ["shopper", "assistant"]
            assert "稍候" not in read["messages"][1]["text"]  # the holding reply is not stored


async def test_time_in_line_does_not_count_against_the_deadline(tmp_path: Path) -> None:
    llm = Slow(delay_s=1.0)  # each turn's own work: one call of 1 s, within the 2.5 s deadline
    async with _client(tmp_path, llm, turn_deadline=2.5, hold_after=30) as c:
        people = [await _shopper(c, s) for s in ("U1", "U2", "U1", "U2")]
        auth, cid = people[0]  # a first turn alone: what a cold process loads once is loaded
        await c.post(f"/v1/conversations/{cid}/messages", headers=auth, json={"text": "你好"})
        replies = await asyncio.gather(*(
            c.post(f"/v1/conversations/{cid}/messages", headers=auth, json={"text": "在吗"})
            for auth, cid in people
        ))  # fmt: skip
        # the last waited 3 s in line, past the deadline, and is answered all the same
        assert [r.status_code for r in replies] == [200] * 4
        assert [r.json()["fallback"] for r in replies] == [False] * 4
        # each answer says how long its turn waited in line: none, then about 1, 2 and 3 s
        waited = sorted(r.json()["waited_ms"] for r in replies)
        assert waited[0] < 100 and [w // 900 for w in waited[1:]] == [1, 2, 3]
        assert all(r.json()["latency_ms"] >= r.json()["waited_ms"] for r in replies)
        # and how long its model call took once it had its slot: the 1 s, not the wait before
        for r in (r.json() for r in replies):
            assert (
                1000 <= r["model_ms"] < 1300 and r["latency_ms"] >= r["waited_ms"] + r["model_ms"]
            )
            assert r["queued_ms"] == 0  # this process answered it: no Redis queue


async def test_turns_beyond_the_turn_slots_wait_in_line_after_their_message_is_stored(
    tmp_path: Path,
) -> None:
    llm = Slow()  # many model slots, one turn slot: the line is for the turn
    async with _client(tmp_path, llm, hold_after=0.1, turn_slots=1, llm_slots=8) as c:
        (auth, first_cid), (auth2, cid) = [await _shopper(c, s) for s in ("U1", "U2")]
        first = asyncio.create_task(c.post(f"/v1/conversations/{first_cid}/messages",
                                           headers=auth, json={"text": "在吗"}))  # fmt: skip
        await asyncio.wait_for(llm.entered.wait(), 30)
        held = await c.post(f"/v1/conversations/{cid}/messages", headers=auth2,
                            json={"text": "在吗", "client_key": "k"})  # fmt: skip
        assert held.status_code == 202 and held.json()["reply"] == HOLDING_NEXT
        assert held.json()["message_id"] > 0  # stored before it waited
        assert llm.calls == 1  # its turn has not started
        llm.gate.set()
        assert (await first).status_code == 200
        for _ in range(50):
            last = await c.post(f"/v1/conversations/{cid}/messages", headers=auth2,
                                json={"text": "在吗", "client_key": "k"})  # fmt: skip
            if last.status_code == 200:
                break
            await asyncio.sleep(0.05)
        assert last.status_code == 200 and not last.json()["fallback"] and llm.calls == 2
