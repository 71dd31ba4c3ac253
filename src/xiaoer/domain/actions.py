"""The life of a proposed change (an action): its states and the moves allowed between them.

    pending ──confirmed──► confirmed ──► executed
       │                       ├──────► awaiting_approval ──► approved ──► executed
       │                       │                 └──────────► rejected      └──► blocked
       │                       └──────► blocked   (the policy said no at execution)
       ├──► declined   (the shopper said no)
       ├──► expired    (not confirmed in time)
       └──► superseded (a newer proposal in the same conversation)

A move is checked against this table and applied in the database only if the action is still
in the state it was read in (compare-and-set), so two hands on the same action — confirm and
decline pressed together, two confirms, two merchant approvals — settle it exactly once.
"""

from __future__ import annotations

from enum import StrEnum

from xiaoer.domain.errors import Conflict


class ActionStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    EXECUTED = "executed"
    REJECTED = "rejected"
    BLOCKED = "blocked"
    DECLINED = "declined"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"


S = ActionStatus
MOVES: dict[ActionStatus, frozenset[ActionStatus]] = {
    S.PENDING: frozenset({S.CONFIRMED, S.DECLINED, S.EXPIRED, S.SUPERSEDED}),
    S.CONFIRMED: frozenset({S.EXECUTED, S.AWAITING_APPROVAL, S.BLOCKED}),
    S.AWAITING_APPROVAL: frozenset({S.APPROVED, S.REJECTED}),
    S.APPROVED: frozenset({S.EXECUTED, S.BLOCKED}),
    S.EXECUTED: frozenset(),
    S.REJECTED: frozenset(),
    S.BLOCKED: frozenset(),
    S.DECLINED: frozenset(),
    S.EXPIRED: frozenset(),
    S.SUPERSEDED: frozenset(),
}
"""Every state's allowed next states; the ones with none are final."""

FINAL = frozenset(s for s, nxt in MOVES.items() if not nxt)


class IllegalMove(Conflict):
    """A move the table does not allow (a bug or a stale caller, never a silent change)."""


class MovedMeanwhile(Conflict):
    """The action left the state the caller read it in before the move could be applied."""


def check_move(action_id: str, before: str, after: str) -> tuple[ActionStatus, ActionStatus]:
    """The two states, if the table allows the move; IllegalMove (409) otherwise."""
    try:
        a, b = ActionStatus(before), ActionStatus(after)
    except ValueError as exc:
        raise IllegalMove(f"action {action_id}: unknown state in {before} → {after}") from exc
    if b not in MOVES[a]:
        raise IllegalMove(f"action {action_id} is {a}; it cannot become {b}")
    return a, b
