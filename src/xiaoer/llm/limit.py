"""How many model calls to make at once when nobody said: found from how the endpoint answers.

An endpoint serves some number of calls at once (its replicas and batch size, a rate limit), and
xiaoer is not told. With too few slots shoppers wait in line while the endpoint has room (the
load test, 1,000 conversations against a stub that serves any number: at 32 slots a process the
wait for them was most of the overhead's p99); with too many, every call gets slower, or the
endpoint answers 429 / 503, and turns run into their deadline. So, when `XIAOER_LLM_SLOTS` is not
set, the slots move with what the calls show, as a TCP window does:

- a call that comes back in its usual time says there is room: while calls wait in line for a
  slot, the slots grow (by about the square root of their number, each round of calls);
- calls that come back slower than usual (a recent average past `tolerance` times the long-run
  one) say the endpoint, or this process's own CPU, is full: the slots shrink in proportion;
- an answer that says so (HTTP 429 or 503 after the retry, a timed-out call) cuts them by a
  quarter, at most once a round.

"Usual" is a long-run average of the calls' own durations, not the fastest one seen: a model's
calls differ in length (a tool call, a long answer), and only a lasting change of the average
says something about the load. The slots stay between `floor` and `ceiling`; the gate that uses
them (`llm/gate.LLMGate`) is resized with them.

A process's turn slots grow the same way, on a limit of their own (`runtime.turns`), from where
they start (32 on an endpoint) and never below it: what a turn takes is its own work — its
reads and writes, tools, guard — its waits and model calls aside (`agent/bounded.py`), and that
slows down when the CPU or the database is full, which the model's calls do not show. (With
the turn slots following the model's instead, one SQLite process went on taking turns until
each took seconds of its own: `xiaoer loadtest --store sqlite`, overhead p99 16.9 s against
3.4 s with fixed slots; on a limit of their own that went down to 16, turns waited for them at
the peak — overhead p99 1.2–1.5 s on PostgreSQL + Redis against 0.9–1.1 s following the
model's, on the same machine the same hour.)
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from xiaoer.llm.gate import LLMGate

__all__ = ["AdaptiveLimit"]

log = logging.getLogger(__name__)

SHORT = 0.1
"""Weight of a call in the recent average (about its last ten calls)."""
LONG = 0.002
"""Weight of a call in the long-run average (about its last five hundred)."""
CUT = 0.75
"""The slots after an endpoint says it is overloaded, as a share of before."""


class AdaptiveLimit:
    """Slots between `floor` and `ceiling`, from how long what holds them takes (a model call;
    a turn's own work)."""

    def __init__(
        self,
        start: int,
        *,
        floor: int = 4,
        ceiling: int = 256,
        tolerance: float = 1.5,
        name: str = "model slots",
    ) -> None:
        if not 1 <= floor <= start <= ceiling:
            raise ValueError("an adaptive limit needs 1 <= floor <= start <= ceiling")
        self.floor, self.ceiling, self.tolerance, self.name = floor, ceiling, tolerance, name
        self._slots = float(start)
        self._gates: list[tuple[LLMGate, int]] = []
        self.recent: float | None = None
        """Seconds a call took, recently (a moving average over about ten calls)."""
        self.usual: float | None = None
        """Seconds a call took, in the long run (over about five hundred)."""
        self._round = 0
        """Calls since the slots last moved: a round is about one call per slot."""
        self._pressed = False
        """A call or a turn waited in line for a slot during this round."""
        self._cut = False
        """The slots were cut for an overloaded answer during this round."""
        self._logged = start

    @property
    def slots(self) -> int:
        return int(self._slots)

    def attach(self, gate: LLMGate, *, least: int = 1) -> None:
        """`gate` is sized by this limit from now on, never below `least`."""
        gate.limit = self
        self._gates.append((gate, least))
        gate.resize(max(least, self.slots))

    def pressed(self) -> None:
        """A call (or a turn) had to wait in line: the slots were all taken."""
        self._pressed = True

    def observe(self, seconds: float) -> None:
        """A call came back, taking `seconds` once it had its slot (a turn: its own work)."""
        self.recent = (
            seconds if self.recent is None else self.recent + SHORT * (seconds - self.recent)
        )
        self.usual = seconds if self.usual is None else self.usual + LONG * (seconds - self.usual)
        self._round += 1
        if self._round < self.slots:
            return
        gradient = min(1.0, max(0.5, self.tolerance * self.usual / max(self.recent, 1e-6)))
        grown = self._slots * gradient + (math.sqrt(self._slots) if self._pressed else 0.0)
        self._set(grown)

    def overloaded(self) -> None:
        """The endpoint said it is overloaded (429 / 503, or a call timed out)."""
        if not self._cut:
            self._set(self._slots * CUT)
            self._cut = True

    def _set(self, slots: float) -> None:
        self._slots = min(float(self.ceiling), max(float(self.floor), slots))
        self._round, self._pressed, self._cut = 0, False, False
        for gate, least in self._gates:
            gate.resize(max(least, self.slots))
        if abs(self.slots - self._logged) * 4 >= self._logged:  # moved by a quarter: say so
            log.info(
                "%s: %d (%.3f s recently, %.3f s usually)",
                self.name, self.slots, self.recent or 0.0, self.usual or 0.0,
            )  # fmt: skip
            self._logged = self.slots
