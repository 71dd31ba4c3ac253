"""Fewer model calls at once while the endpoint says it is overloaded, and back as it recovers.

An endpoint answers HTTP 429 (its rate limit) or 503 (no room) when it gets more calls than it
serves, or stops answering in time. Kept at its 32 slots, a call past what it serves is sent
once more half a second later, and when that is refused too its shopper gets an apology and a
human. With fewer slots those calls wait in line instead (`llm/gate.py`), their shoppers told
their place, and go ahead as the calls before them end. So, when `XIAOER_LLM_SLOTS` is not set:

- an answer that says the endpoint is overloaded (429 or 503 after the retry, a timed-out call)
  cuts the slots by a quarter, at most once a round — a round is about one call per slot, so
  the calls already sent when the first said so do not cut again for the same overload;
- each round of calls answered without one brings back one slot, up to where they started, as a
  TCP window grows back after a loss: slowly, so as not to run into the same limit at once.

The slots never go above where they started. Slots that grew while calls waited and came back
in their usual time (the turn slots growing with them) were tried with `xiaoer loadtest`,
1,000 conversations against a stub that serves any number at once, three runs each,
alternating: each turn worker took more turns at once, its CPU per answer went up, turns waited
on the Redis queue instead, and the overhead p99 was 4.1 s in all three against 1.0 and 2.1 s
with fixed slots (and 6.3 s in a third run, with the machine busy: 1,094 messages held). Forty
minutes earlier, with the machine less busy, the same code had done better than fixed slots
(0.9 and 1.1 s against 1.4 and 1.9 s): the model's calls, which such slots read, do not show
when the cores are full, and then more turns at once is the wrong way. A slow
endpoint is not cut either: an LLM's calls differ in length, and a slower average is as often
longer answers as a full server.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from xiaoer.llm.gate import LLMGate

__all__ = ["Backoff"]

log = logging.getLogger(__name__)

CUT = 0.75
"""The slots after an endpoint says it is overloaded, as a share of before."""


class Backoff:
    """Slots between `floor` and `start`: cut when the endpoint is overloaded, then back."""

    def __init__(self, start: int, *, floor: int = 4) -> None:
        if not 1 <= floor <= start:
            raise ValueError("a backoff needs 1 <= floor <= start")
        self.start, self.floor = start, floor
        self._slots = float(start)
        self._gate: LLMGate | None = None
        self._round = 0
        """Calls ended since the slots last moved: a round is about one call per slot."""
        self._cut = False
        """The slots were cut during this round."""

    @property
    def slots(self) -> int:
        return int(self._slots)

    def attach(self, gate: LLMGate) -> None:
        """`gate` is sized by this backoff from now on."""
        gate.limit = self
        self._gate = gate
        gate.resize(self.slots)

    def answered(self) -> None:
        """A call came back with an answer."""
        self._ended(overloaded=False)

    def overloaded(self) -> None:
        """The endpoint said it is overloaded (429 / 503), or a call timed out."""
        self._ended(overloaded=True)

    def _ended(self, *, overloaded: bool) -> None:
        self._round += 1
        if self._round >= self.slots:  # a round ends
            if not (self._cut or overloaded) and self._slots < self.start:
                self._set(self._slots + 1)
            else:  # a round with a cut in it brings none back
                self._round, self._cut = 0, False
        if overloaded and not self._cut:
            self._set(self._slots * CUT)
            self._cut = True

    def _set(self, slots: float) -> None:
        before = self.slots
        self._slots = min(float(self.start), max(float(self.floor), slots))
        self._round, self._cut = 0, False
        if self._gate is not None:
            self._gate.resize(self.slots)
        if self.slots < before:
            log.warning("the LLM endpoint is overloaded: %d model calls at once (of %d)",
                        self.slots, self.start)  # fmt: skip
        elif self.slots > before:
            log.info("the LLM endpoint answers again: %d model calls at once (of %d)",
                     self.slots, self.start)  # fmt: skip
