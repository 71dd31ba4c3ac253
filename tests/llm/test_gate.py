"""The LLM gate: at most `slots` calls at a time, the rest in line first come first served —
or, inside turns, the oldest turn's calls first; a waiting call's turn hears where it stands
and when it goes ahead; a call cancelled in line leaves it, and a slot handed to a call
cancelled at that moment is not lost."""

from __future__ import annotations

import asyncio
import time

import pytest

from xiaoer.llm.gate import GatedLLM, LLMGate, Ticket, turn_began, waiting_hook
from xiaoer.llm.scripted import ScriptedLLM, say


class Told:
    def __init__(self) -> None:
        self.queued: list[int] = []
        self.admitted: list[float] = []
        self.ticket: Ticket | None = None

    async def queued_(self, ticket: Ticket) -> None:
        self.ticket = ticket
        self.queued.append(ticket.ahead)

    async def admitted_(self, waited_s: float) -> None:
        self.admitted.append(waited_s)


class Hook:
    def __init__(self, told: Told) -> None:
        self.queued, self.admitted = told.queued_, told.admitted_


async def _hold(gate: LLMGate, release: asyncio.Event, order: list[str], name: str,
                told: Told | None = None) -> None:  # fmt: skip
    if told is not None:
        waiting_hook.set(Hook(told))  # this task's own context
    async with gate.slot():
        order.append(name)
        await release.wait()


async def test_calls_beyond_the_slots_wait_in_line_first_come_first_served() -> None:
    gate, release, order = LLMGate(2), asyncio.Event(), []
    told = {n: Told() for n in "cde"}
    tasks = [asyncio.create_task(_hold(gate, release, order, n, told.get(n))) for n in "abcde"]
    await asyncio.sleep(0.05)
    assert order == ["a", "b"] and (gate.busy, gate.waiting) == (2, 3)
    assert [told[n].queued for n in "cde"] == [[0], [1], [2]]  # calls ahead of each
    assert told["e"].ticket is not None and told["e"].ticket.ahead == 2
    release.set()
    await asyncio.gather(*tasks)
    assert order == ["a", "b", "c", "d", "e"] and (gate.busy, gate.waiting) == (0, 0)
    assert all(len(told[n].admitted) == 1 and told[n].admitted[0] >= 0.04 for n in "cde")


async def test_a_turns_later_call_waits_behind_older_turns_only() -> None:
    """Turns a, b, c began in that order; c asks first, then b, then a's second call: a's goes
    first, then b's, then c's — and the place each is told counts only the older turns'."""
    gate, release, order = LLMGate(1), asyncio.Event(), []
    told = {n: Told() for n in "abc"}

    async def call(name: str, began: float) -> None:
        turn_began.set(began)  # this task's own context, as `BoundedTurns` sets it per turn
        await _hold(gate, release, order, name, told[name])

    async with gate.slot():  # this test holds the one slot: everything else waits
        tasks = []
        for name, began in (("c", 30.0), ("b", 20.0), ("a", 10.0)):
            tasks.append(asyncio.create_task(call(name, began)))
            await asyncio.sleep(0.01)
        assert [told[n].queued for n in "cba"] == [[0], [0], [0]]  # each went to the front
        assert [told[n].ticket.ahead for n in "abc" if told[n].ticket] == [0, 1, 2]
        release.set()
    await asyncio.gather(*tasks)
    assert order == ["a", "b", "c"] and (gate.busy, gate.waiting) == (0, 0)


async def test_calls_outside_turns_keep_their_order_among_the_turns() -> None:
    """A call with no turn is placed by when it asked: behind the turns begun before it."""
    gate, release, order = LLMGate(1), asyncio.Event(), []

    async def in_turn(name: str, began: float) -> None:
        turn_began.set(began)
        await _hold(gate, release, order, name)

    async with gate.slot():
        now = time.monotonic()  # the gate's clock
        tasks = [asyncio.create_task(_hold(gate, release, order, "plain"))]
        await asyncio.sleep(0.01)
        tasks.append(asyncio.create_task(in_turn("newer", now + 60)))
        tasks.append(asyncio.create_task(in_turn("older", now - 60)))
        await asyncio.sleep(0.01)
        release.set()
    await asyncio.gather(*tasks)
    assert order == ["older", "plain", "newer"]


async def test_a_call_cancelled_in_line_leaves_it_and_one_handed_a_slot_gives_it_back() -> None:
    gate, release, order = LLMGate(1), asyncio.Event(), []
    release.set()
    async with gate.slot():  # this test holds the one slot
        gone = asyncio.create_task(_hold(gate, release, order, "b"))
        last = asyncio.create_task(_hold(gate, release, order, "c"))
        await asyncio.sleep(0.01)
        gone.cancel()
        await asyncio.sleep(0.01)
        assert gate.waiting == 1  # only "c" is still in line
    # leaving the slot handed it to "c"; "c" is cancelled before it ran: the slot is not lost
    last.cancel()
    with pytest.raises(asyncio.CancelledError):
        await last
    assert order == [] and (gate.busy, gate.waiting) == (0, 0)
    async with asyncio.timeout(1):
        await _hold(gate, release, order, "d")
    assert order == ["d"]


async def test_the_gated_model_answers_as_the_model_and_keeps_its_name() -> None:
    inner = ScriptedLLM(steps=[say("好的。")])
    llm = GatedLLM(inner, LLMGate(1))
    assert llm.name == inner.name and llm.calls is inner.calls  # the rest is the model's
    assert (await llm.complete([], [])).content == "好的。"
    assert llm.gate.busy == 0


def test_a_gate_needs_a_slot() -> None:
    with pytest.raises(ValueError):
        LLMGate(0)


async def test_a_waiting_call_is_told_about_when_its_turn_comes_from_the_lines_pace() -> None:
    gate = LLMGate(1)
    told = {n: Told() for n in "bcd"}
    releases = {n: asyncio.Event() for n in "abcd"}
    order: list[str] = []
    tasks = {
        n: asyncio.create_task(_hold(gate, releases[n], order, n, told.get(n))) for n in "abcd"
    }
    await asyncio.sleep(0.01)
    ticket = told["d"].ticket
    assert ticket is not None and ticket.eta_s is None  # the line has not moved yet
    for n in "ab":  # two hand-overs 0.1 s apart: the line moves one call per ~0.1 s
        await asyncio.sleep(0.1)
        releases[n].set()
        await tasks[n]
    assert gate.pace_s is not None and 0.05 < gate.pace_s < 0.5
    assert ticket.ahead == 0 and ticket.eta_s == pytest.approx(gate.pace_s)
    releases["c"].set()
    releases["d"].set()
    await asyncio.gather(*tasks.values())
    assert ticket.eta_s is None  # it holds its slot: nothing left to wait for


def test_a_gate_that_emptied_forgets_the_last_hand_over() -> None:
    gate = LLMGate(1)
    gate.busy = 1
    gate._handed = 5.0
    gate.release()  # nobody waits: the gap to the next hand-over says nothing about the pace
    assert gate._handed is None and gate.busy == 0
