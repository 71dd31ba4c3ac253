"""After-sales flows as explicit state machines: the stage a change request is at and the slots
it has filled, stored with the conversation (in each reply's `meta.flows`), so that no turn
re-derives them from the transcript.

A flow goes `identify_order → identify_items → check_policy → offer_retention → confirm →
done`, skipping what does not apply: the order is known from the message, an order has one
item, the policy offers nothing. `MOVES` is the transition table; a move outside it is an
error (`IllegalMove`), never a silent jump.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

from xiaoer.domain.understanding import ReasonKind


class Stage(StrEnum):
    ORDER = "identify_order"
    """Which order: asked when neither the message nor the conversation says it."""
    ITEMS = "identify_items"
    """Which item of a multi-item order (returns, exchanges)."""
    CHECK = "check_policy"
    """The tool checks the policy and proposes, refuses, or asks for what it still needs."""
    RETENTION = "offer_retention"
    """The shop's retention offer waits for the shopper's answer."""
    CONFIRM = "confirm"
    """The proposed change waits for the shopper's explicit yes."""
    DONE = "done"
    """Executed, declined, refused or handed over: the outcome was reported."""


S = Stage
MOVES: dict[Stage, frozenset[Stage]] = {
    S.ORDER: frozenset({S.ORDER, S.ITEMS, S.CHECK, S.DONE}),
    S.ITEMS: frozenset({S.ITEMS, S.CHECK, S.DONE}),
    S.CHECK: frozenset({S.CHECK, S.ITEMS, S.RETENTION, S.CONFIRM, S.DONE}),
    S.RETENTION: frozenset({S.CONFIRM, S.DONE}),
    S.CONFIRM: frozenset({S.DONE}),
    S.DONE: frozenset(),
}
"""Staying in a stage is a move too (asked again); `done` is final — a new request starts a
new flow."""


class IllegalMove(ValueError):
    """A flow was asked to move where its transition table does not go."""


class Flow(BaseModel):
    """One change request being worked through."""

    kind: str
    """The want it serves (`cancel`, `return`, …: `Understanding.want`)."""
    stage: Stage = Stage.ORDER
    order_id: str = ""
    choices: list[str] = Field(default_factory=list)
    """The orders the shopper was asked to choose from (stage `identify_order`)."""
    item: str = ""
    """The item of the order, in the shopper's words (stage `identify_items`)."""
    reason: str = ""
    """The shopper's reason, their own message that gave it."""
    reason_kind: ReasonKind = "none"
    asked: str = ""
    """What the last reply asked the shopper for: `order`, `item`, `reason`, `details`; ""."""
    action_id: str = ""
    """The action the flow proposed (stage `offer_retention` or `confirm`)."""
    outcome: str = ""
    """How it ended: `executed`, `declined`, `refused`, `expired`, … (stage `done`)."""

    def to(self, stage: Stage, **slots: object) -> Flow:
        if stage not in MOVES[self.stage]:
            raise IllegalMove(f"a {self.kind} flow cannot move from {self.stage} to {stage}")
        return self.model_copy(update={"stage": stage, **slots})

    @property
    def open(self) -> bool:
        return self.stage != Stage.DONE


PARKED = 3
"""Flows kept aside while the shopper talks about something else (the oldest goes first)."""


class Flows(BaseModel):
    """The conversation's flows: the one being worked on and the ones the shopper left for
    another topic, to come back to."""

    active: Flow | None = None
    parked: list[Flow] = Field(default_factory=list)

    def park(self) -> Flows:
        """Set the active flow aside (a finished one is dropped)."""
        if self.active is None or not self.active.open:
            return Flows(parked=self.parked)
        return Flows(parked=[*self.parked, self.active][-PARKED:])

    def start(self, flow: Flow) -> Flows:
        """Work on `flow`, setting aside the active one; a parked flow of the same kind is
        taken up again instead of starting over."""
        rest = self.park()
        again = next((f for f in reversed(rest.parked) if f.kind == flow.kind), None)
        if again is not None:
            parked = [f for f in rest.parked if f is not again]
            return Flows(active=again, parked=parked)
        return Flows(active=flow, parked=rest.parked)

    def put(self, flow: Flow) -> Flows:
        return Flows(active=flow, parked=self.parked)

    @property
    def empty(self) -> bool:
        return self.active is None and not self.parked
