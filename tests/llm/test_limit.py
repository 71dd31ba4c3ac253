"""Model slots that move with how the endpoint answers (`llm/limit.py`): more while calls wait
and come back in their usual time, fewer when they slow down or the endpoint says it is busy;
the gates they size hand new slots to the calls in line at once and give up shrunk ones as
their calls end; a process sizes its gates this way only when nobody fixed the slots."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from conftest import NOW
from minishop import write_bundle
from xiaoer.config import Settings
from xiaoer.domain.errors import UpstreamError
from xiaoer.llm.base import Completion
from xiaoer.llm.gate import GatedLLM, LLMGate
from xiaoer.llm.limit import AdaptiveLimit
from xiaoer.llm.scripted import ScriptedLLM, say
from xiaoer.runtime import Runtime


def _rounds(limit: AdaptiveLimit, seconds: float, rounds: int, *, waiting: bool) -> list[int]:
    """`rounds` rounds of calls taking `seconds` each; the slots after each."""
    seen = []
    for _ in range(rounds):
        for _ in range(limit.slots):
            if waiting:
                limit.pressed()
            limit.observe(seconds)
        seen.append(limit.slots)
    return seen


def test_the_slots_grow_while_calls_wait_and_come_back_in_their_usual_time() -> None:
    limit = AdaptiveLimit(32)
    grown = _rounds(limit, 0.3, 6, waiting=True)
    assert grown == sorted(grown) and grown[0] > 32 and grown[-1] >= 64
    assert _rounds(limit, 0.3, 3, waiting=False) == [grown[-1]] * 3  # nobody waits: no more
    assert _rounds(AdaptiveLimit(200), 0.3, 20, waiting=True)[-1] == 256  # the ceiling


def test_the_slots_shrink_when_calls_slow_down_but_not_below_the_floor() -> None:
    limit = AdaptiveLimit(64)
    _rounds(limit, 0.3, 20, waiting=False)  # the usual: 0.3 s
    assert limit.slots == 64
    assert _rounds(limit, 0.4, 2, waiting=True)[-1] > 64  # a third slower: within tolerance
    before = limit.slots
    shrunk = _rounds(limit, 1.2, 3, waiting=True)  # four times slower, though calls wait
    assert shrunk[0] < before and shrunk == sorted(shrunk, reverse=True)
    assert _rounds(limit, 5.0, 8, waiting=False)[-1] == 4  # the floor


def test_a_busy_answer_cuts_the_slots_once_a_round() -> None:
    limit = AdaptiveLimit(40)
    limit.overloaded()
    limit.overloaded()  # the same round: the first cut stands for both
    assert limit.slots == 30
    _rounds(limit, 0.3, 1, waiting=False)
    limit.overloaded()
    assert limit.slots == 22


async def test_a_resized_gate_lets_calls_in_at_once_and_gives_up_slots_as_calls_end() -> None:
    gate, release = LLMGate(2), asyncio.Event()
    running: list[int] = []

    async def call(n: int) -> None:
        async with gate.slot():
            running.append(n)
            await release.wait()

    tasks = [asyncio.create_task(call(n)) for n in range(5)]
    await asyncio.sleep(0.02)
    assert (running, gate.busy, gate.waiting) == ([0, 1], 2, 3)
    gate.resize(4)  # two more slots: the next two in line go ahead now
    await asyncio.sleep(0.02)
    assert (running, gate.busy, gate.waiting) == ([0, 1, 2, 3], 4, 1)
    gate.resize(1)  # the four running finish; the one waiting goes once fewer than one run
    release.set()
    await asyncio.gather(*tasks)
    assert running == [0, 1, 2, 3, 4] and (gate.busy, gate.waiting) == (0, 0)

    gate2, held = LLMGate(3), asyncio.Event()
    order: list[str] = []

    async def hold(name: str) -> None:
        async with gate2.slot():
            order.append(name)
            await held.wait()

    first = [asyncio.create_task(hold(n)) for n in "abc"]
    await asyncio.sleep(0.02)
    later = asyncio.create_task(hold("d"))
    await asyncio.sleep(0.02)
    gate2.resize(1)
    first[0].cancel()  # a slot given back while three run on one: not handed to "d"
    await asyncio.sleep(0.02)
    assert order == ["a", "b", "c"] and (gate2.busy, gate2.waiting) == (2, 1)
    held.set()
    await asyncio.gather(*first[1:], later)
    assert order == ["a", "b", "c", "d"] and gate2.busy == 0


async def test_the_gated_model_reports_its_calls_and_busy_answers_to_the_limit() -> None:
    class Busy(ScriptedLLM):
        async def complete(self, *args: object, **kwargs: object) -> Completion:
            if len(self.calls) >= 2:
                raise UpstreamError("HTTP 429", overloaded=True)
            return await super().complete(*args, **kwargs)  # type: ignore[arg-type]

    limit, gate = AdaptiveLimit(8), LLMGate(8)
    limit.attach(gate)
    llm = GatedLLM(Busy(steps=[say("a"), say("b")]), gate)
    await llm.complete([], [])
    await llm.complete([], [])
    assert limit.recent is not None and limit.recent < 0.1 and limit._round == 2
    with pytest.raises(UpstreamError):
        await llm.complete([], [])
    assert (limit.slots, gate.slots) == (6, 6)


async def test_a_process_moves_an_endpoints_slots_unless_they_are_fixed(tmp_path: Path) -> None:
    endpoint = {"home": tmp_path, "llm_base_url": "http://127.0.0.1:9/v1"}
    rt = await Runtime.open(Settings(**endpoint))  # type: ignore[arg-type]
    try:
        model, turns = rt.gated().gate, rt.turns().gate
        assert model.limit is not None and turns is not None and turns.limit is not None
        assert model.limit is not turns.limit  # the turns' own work sizes the turns
        assert (model.slots, turns.slots) == (32, 32)
        model.limit._set(8)
        turns.limit._set(8)
        assert (model.slots, turns.slots) == (8, 32)  # never fewer turns than at the start
        turns.limit._set(50)
        assert (model.slots, turns.slots) == (8, 50)
    finally:
        await rt.close()
    rt = await Runtime.open(Settings(**endpoint, llm_slots=48))  # type: ignore[arg-type]
    try:
        assert rt.gated().gate.limit is None and rt.gated().gate.slots == 48
    finally:
        await rt.close()
    rt = await Runtime.open(Settings(**endpoint, turn_slots=5))  # type: ignore[arg-type]
    try:
        turns = rt.turns().gate
        assert turns is not None and turns.limit is None and turns.slots == 5
    finally:
        await rt.close()

    class OneAtATime(ScriptedLLM):
        serves_at_once = 1

    rt = await Runtime.open(Settings(home=tmp_path), llm=OneAtATime())
    try:
        assert rt.gated().gate.limit is None and rt.gated().gate.slots == 1
    finally:
        await rt.close()


async def test_a_turns_own_work_not_its_model_calls_sizes_the_turn_slots(tmp_path: Path) -> None:
    class Slow(ScriptedLLM):
        async def complete(self, *args: object, **kwargs: object) -> Completion:
            await asyncio.sleep(0.5)
            return say("好的，在的。")

    settings = Settings(
        home=tmp_path / "home", now=NOW, secret_key="s", guard=False, embeddings=False,
        understand="keywords",
    )  # fmt: skip
    rt = await Runtime.open(settings, llm=Slow())
    try:
        await rt.import_shop(write_bundle(tmp_path / "bundle"))
        cid = await rt.assistant().start("mini", "U1", channel="api")
        turns = rt.turns()
        assert turns.gate is not None and (limit := turns.gate.limit) is not None
        own: list[float] = []
        limit.observe = own.append  # type: ignore[method-assign]
        for key in ("k1", "k2"):  # the first also loads what a process loads once
            result = await turns.turn("mini", "U1", "在吗", conversation_id=cid, client_key=key)
            assert result.model_ms >= 500
        assert len(own) == 2 and own[1] < 0.4  # its 0.5 s model call left out
        await turns.turn("mini", "U1", "在吗", conversation_id=cid, client_key="k2")
        assert len(own) == 2  # a resend answered from the stored reply is no turn
        model = rt.gated().gate.limit
        assert model is not None and model.recent is not None and model.recent >= 0.5
    finally:
        await rt.close()
