"""Backpressure: at most `slots` model calls at a time in one process; the others wait in line,
the oldest turn's first, and the turn that waits can tell its shopper where they stand.

An endpoint has a capacity (its replicas, its rate limit), and the embedded model serves one
call at a time. Past that, more calls at once do not finish sooner: they all get slower, every
turn runs into its deadline, and every shopper gets an apology. With a gate in front of the
model the calls beyond `slots` wait their turn instead, the turns that hold a slot finish in
their usual time, and a waiting turn hears of it (`waiting_hook`): `agent/bounded.py` sends the
shopper a holding reply with their place in line and does not count the wait against the turn's
deadline.

The same gate bounds the turns a process works on at once (`agent/bounded.py`, after each
message is stored): past what the CPU can do, more turns at once only make every turn slower,
until all of them miss their deadline.

The line is ordered by when each call's turn began (`turn_began`), not by when the call asked:
a turn makes two or three calls, and served as they ask, a turn's second call waits behind
every newer turn's first. Served by their turns' age, the turns that started go on first: a
new turn's first call may wait longer, the started ones finish sooner, and the last answer
comes no later. (This is the reasoning; `xiaoer loadtest` showed no difference either way
within its run-to-run noise: at its defaults turns never wait at this gate for the model.) A
call outside a turn is placed by when it asked.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol

from xiaoer.domain.errors import UpstreamError
from xiaoer.domain.tracing import span
from xiaoer.llm.base import LLM, ChatMessage, Completion, Mode, OnText, ToolSpec

if TYPE_CHECKING:
    from xiaoer.llm.limit import Backoff

__all__ = ["SLOTS", "GatedLLM", "LLMGate", "Ticket", "Waiter", "turn_began", "waiting_hook"]

SLOTS = 32
"""Calls at a time for a model that does not say how many it serves (`serves_at_once`): an
endpoint's — fewer while it says it is overloaded (`llm/limit.py`), unless `XIAOER_LLM_SLOTS`
fixes them. The embedded model says 1."""


class Waiter(Protocol):
    """Told by the gate about the current task's calls that have to wait."""

    async def queued(self, ticket: Ticket) -> None: ...

    async def admitted(self, waited_s: float) -> None: ...

    def called(self, seconds: float) -> None:
        """One of the current task's calls took `seconds` once it had its slot."""


waiting_hook: ContextVar[Waiter | None] = ContextVar("xiaoer_llm_waiting_hook", default=None)
"""Set by a turn (`agent/bounded.py`) for the model calls it makes; None: wait silently."""

turn_began: ContextVar[float | None] = ContextVar("xiaoer_llm_turn_began", default=None)
"""When the current turn began (`time.monotonic()`), set by the turn (`agent/bounded.py`): its
calls wait behind those of the turns begun before it. None: the call's own time of asking."""

_order = itertools.count()


class Ticket:
    """A call's place in line."""

    __slots__ = ("_gate", "_ready", "key", "since")

    def __init__(self, gate: LLMGate) -> None:
        self._gate = gate
        self._ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.since = time.monotonic()
        began = turn_began.get()
        self.key = (self.since if began is None else began, next(_order))
        """Its place: its turn's beginning (or its own asking), ties in the order they asked."""

    def __lt__(self, other: Ticket) -> bool:
        return self.key < other.key

    @property
    def ahead(self) -> int:
        """Calls before this one in line (0: it is next); 0 once it holds its slot."""
        try:
            return self._gate._line.index(self)
        except ValueError:
            return 0

    @property
    def waiting(self) -> bool:
        return not self._ready.done()

    @property
    def eta_s(self) -> float | None:
        """About how many seconds until this call gets its slot, from how fast the line has
        been moving (None: it has not moved yet)."""
        pace = self._gate.pace_s
        return None if pace is None or not self.waiting else (self.ahead + 1) * pace


class LLMGate:
    """`slots` model calls at a time; the rest wait in line (`waiting` of them)."""

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError("an LLM gate needs at least one slot")
        self.slots = slots
        self.busy = 0
        self.limit: Backoff | None = None
        """What sizes this gate when its slots move (`llm/limit.py`), told how its calls end."""
        self._line: list[Ticket] = []
        """The waiting calls, oldest turn first (`Ticket.key`)."""
        self.pace_s: float | None = None
        """Seconds between slots handed over while calls wait (a moving average): how fast
        the line moves."""
        self._handed: float | None = None

    @property
    def waiting(self) -> int:
        return len(self._line)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        await self.acquire()
        try:
            yield
        finally:
            self.release()

    async def acquire(self) -> None:
        """Take a slot, waiting in line for one if none is free; `release` gives it back."""
        if self.busy < self.slots and not self._line:
            self.busy += 1
        else:
            await self._wait()

    def release(self) -> None:
        self._release()

    def resize(self, slots: int) -> None:
        """From now on `slots` at a time: more, and the calls waiting go ahead into the new
        ones; fewer, and the running calls finish, their slots not handed on while `busy` is
        past the new number."""
        self.slots = max(1, slots)
        while self.busy < self.slots and self._hand_over():
            self.busy += 1

    async def _wait(self) -> None:
        ticket = Ticket(self)
        bisect.insort(self._line, ticket)
        hook = waiting_hook.get()
        try:
            if hook is not None:
                await hook.queued(ticket)
            await ticket._ready  # a releasing call hands its slot over: `busy` stays as it is
        except BaseException:  # cancelled, or the hook failed: the place in line is given up
            if ticket in self._line:
                self._line.remove(ticket)
            elif ticket._ready.done() and not ticket._ready.cancelled():
                self._release()  # the slot was handed over just as this call was cancelled
            raise
        if hook is not None:
            try:
                await hook.admitted(time.monotonic() - ticket.since)
            except BaseException:
                self._release()  # the slot is this call's, and it will not be used
                raise

    def _release(self) -> None:
        if self.busy > self.slots:  # the gate shrank (`resize`): this slot goes with the call
            self.busy -= 1
            return
        if not self._hand_over():
            self.busy -= 1
            self._handed = None  # nobody waits: the next gap says nothing about the line's pace

    def _hand_over(self) -> bool:
        """A slot to the first call still waiting in line, if there is one (True)."""
        while self._line:
            ticket = self._line.pop(0)
            if not ticket._ready.done():
                ticket._ready.set_result(None)
                self._moved()
                return True
        return False

    def _moved(self) -> None:
        now = time.monotonic()
        if self._handed is not None:
            gap = now - self._handed
            self.pace_s = gap if self.pace_s is None else 0.8 * self.pace_s + 0.2 * gap
        self._handed = now


class GatedLLM:
    """An LLM whose calls pass through a gate; everything else is the wrapped model's."""

    def __init__(self, llm: LLM, gate: LLMGate) -> None:
        self.inner = llm
        self.gate = gate
        self.name = llm.name

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolSpec],
        *,
        mode: Mode = "auto",
        max_tokens: int = 384,
        on_text: OnText | None = None,
    ) -> Completion:
        with span("xiaoer.llm", **{"llm.model": self.name, "llm.mode": mode}) as traced:
            asked = time.monotonic()
            async with self.gate.slot():
                began = time.monotonic()
                traced.set_attribute("llm.wait_ms", int((began - asked) * 1000))
                limit = self.gate.limit
                try:
                    result = await self.inner.complete(
                        messages, tools, mode=mode, max_tokens=max_tokens, on_text=on_text
                    )
                except UpstreamError as exc:
                    if limit is not None and exc.overloaded:
                        limit.overloaded()
                    raise
                else:
                    if limit is not None:
                        limit.answered()
                finally:
                    if (hook := waiting_hook.get()) is not None:
                        hook.called(time.monotonic() - began)
            traced.set_attribute("llm.tokens_in", result.tokens_in)
            traced.set_attribute("llm.tokens_out", result.tokens_out)
            traced.set_attribute("llm.tool_calls", len(result.tool_calls))
            return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)
