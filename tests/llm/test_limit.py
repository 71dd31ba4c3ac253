"""Model slots that back off while the endpoint says it is overloaded (`llm/limit.py`): a quarter
fewer at once each round it answers 429 / 503 or times out, one back for each round answered
without, never above where they started; the gate they size hands new slots to the calls in
line at once and gives up shrunk ones as their calls end; a process backs off only when nobody
fixed the slots."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from xiaoer.config import Settings
from xiaoer.domain.errors import UpstreamError
from xiaoer.llm.base import Completion
from xiaoer.llm.gate import GatedLLM, LLMGate
from xiaoer.llm.limit import Backoff
from xiaoer.llm.scripted import ScriptedLLM, say
from xiaoer.runtime import Runtime


def test_an_overloaded_endpoint_gets_a_quarter_fewer_calls_once_a_round() -> None:
    limit = Backoff(40)
    limit.overloaded()
    for _ in range(29):  # the calls sent before the first was told: the same overload
        limit.overloaded()
    assert limit.slots == 30
    limit.overloaded()  # a round later, still overloaded
    assert limit.slots == 22
    for _ in range(200):
        limit.overloaded()
    assert limit.slots == 4  # the floor


def test_the_slots_come_back_one_a_round_but_never_above_where_they_started() -> None:
    limit = Backoff(32)
    for _ in range(3):
        limit.overloaded()
        for _ in range(limit.slots - 1):
            limit.answered()
    assert limit.slots == 13  # 32 → 24 → 18 → 13
    limit.answered()  # the round of the last cut ends: it brings none back
    assert limit.slots == 13
    seen = []
    for _ in range(3):
        for _ in range(limit.slots):
            limit.answered()
        seen.append(limit.slots)
    assert seen == [14, 15, 16]  # one slot a round of answered calls
    for _ in range(2000):
        limit.answered()
    assert limit.slots == 32


async def _hold(gate: LLMGate, release: asyncio.Event, order: list[str], name: str) -> None:
    async with gate.slot():
        order.append(name)
        await release.wait()


async def test_a_resized_gate_lets_calls_in_at_once_and_gives_up_slots_as_calls_end() -> None:
    gate, release, running = LLMGate(2), asyncio.Event(), []
    tasks = [asyncio.create_task(_hold(gate, release, running, n)) for n in "abcde"]
    await asyncio.sleep(0.02)
    assert (running, gate.busy, gate.waiting) == (["a", "b"], 2, 3)
    gate.resize(4)  # two more slots: the next two in line go ahead now
    await asyncio.sleep(0.02)
    assert (running, gate.busy, gate.waiting) == (["a", "b", "c", "d"], 4, 1)
    gate.resize(1)  # the four running finish; the one waiting goes once fewer than one run
    release.set()
    await asyncio.gather(*tasks)
    assert running == list("abcde") and (gate.busy, gate.waiting) == (0, 0)

    gate, held, order = LLMGate(3), asyncio.Event(), []
    first = [asyncio.create_task(_hold(gate, held, order, n)) for n in "abc"]
    await asyncio.sleep(0.02)
    later = asyncio.create_task(_hold(gate, held, order, "d"))
    await asyncio.sleep(0.02)
    gate.resize(1)
    first[0].cancel()  # a slot given back while three run on one: not handed to "d"
    await asyncio.sleep(0.02)
    assert order == ["a", "b", "c"] and (gate.busy, gate.waiting) == (2, 1)
    held.set()
    await asyncio.gather(*first[1:], later)
    assert order == ["a", "b", "c", "d"] and gate.busy == 0


async def test_the_gated_model_reports_its_calls_and_busy_answers_to_the_limit() -> None:
    class Busy(ScriptedLLM):
        async def complete(self, *args: object, **kwargs: object) -> Completion:
            if len(self.calls) >= 2:
                raise UpstreamError("HTTP 429", overloaded=True)
            return await super().complete(*args, **kwargs)  # type: ignore[arg-type]

    limit, gate = Backoff(8), LLMGate(8)
    limit.attach(gate)
    llm = GatedLLM(Busy(steps=[say("a"), say("b")]), gate)
    await llm.complete([], [])
    await llm.complete([], [])
    assert limit._round == 2
    with pytest.raises(UpstreamError):
        await llm.complete([], [])
    assert (limit.slots, gate.slots) == (6, 6)


async def test_a_process_backs_off_an_endpoint_unless_its_slots_are_fixed(tmp_path: Path) -> None:
    endpoint = {"home": tmp_path, "llm_base_url": "http://127.0.0.1:9/v1"}
    rt = await Runtime.open(Settings(**endpoint))  # type: ignore[arg-type]
    try:
        model, turns = rt.gated().gate, rt.turns().gate
        assert model.limit is not None and model.slots == 32
        assert turns is not None and turns.limit is None and turns.slots == 32
        model.limit.overloaded()
        assert (model.slots, turns.slots) == (24, 32)  # turns wait in line for the model
    finally:
        await rt.close()
    rt = await Runtime.open(Settings(**endpoint, llm_slots=48))  # type: ignore[arg-type]
    try:
        assert rt.gated().gate.limit is None and rt.gated().gate.slots == 48
    finally:
        await rt.close()

    class OneAtATime(ScriptedLLM):
        serves_at_once = 1

    rt = await Runtime.open(Settings(home=tmp_path), llm=OneAtATime())
    try:
        assert rt.gated().gate.limit is None and rt.gated().gate.slots == 1
    finally:
        await rt.close()
