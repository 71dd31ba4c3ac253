"""The tool record and the result type shared by every tool."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from xiaoer.domain.models import Change
from xiaoer.llm.base import ToolSpec
from xiaoer.policy.verdict import Verdict
from xiaoer.tools.deps import TurnDeps


@dataclass(frozen=True, slots=True)
class Proposal:
    """A change a mutating tool wants to make. The action desk stores it as a pending action;
    it executes only after the shopper confirms, and only if the policy still allows it then
    (the tool is run again with the same arguments to check)."""

    tool: str
    arguments: dict[str, Any]
    """Normalised arguments: running the tool again with them re-checks the same change."""
    order_id: str | None
    summary: str
    """What, which order and items, how much, when — in plain Chinese."""
    verdict: Verdict
    change: Change
    """What to apply; its `key` is replaced by the action id (the idempotency key)."""
    done: str
    """The reply once executed."""
    amount_fen: int = 0
    ask: str = ""
    """The confirmation question; empty = the standard one."""


@dataclass(frozen=True, slots=True)
class ToolResult:
    ok: bool
    text: str
    """What the model reads."""
    data: dict[str, Any] = field(default_factory=dict)
    """Structured facts for events, logs and (later) the output guard."""
    reply: str | None = None
    """A pre-approved reply that settles the turn (e.g. a refusal); sent instead of model text."""
    proposal: Proposal | None = None
    """A mutating tool's proposed change, awaiting the shopper's confirmation."""


type ToolFn = Callable[[TurnDeps, dict[str, Any]], Awaitable[ToolResult]]


@dataclass(frozen=True, slots=True)
class Tool:
    spec: ToolSpec
    run: ToolFn
    mutating: bool = False
    answers: bool = True
    """Its result usually answers the question, so after it succeeds the model should reply
    rather than call again (False for tools whose result leads to another call)."""
    answer_hint: str = ""
    """What the answer must mention, appended to the answer note (e.g. names and prices)."""
    confirm: bool = True
    """For mutating tools: the change waits for the shopper's explicit confirmation. False only
    for requests that move no money or goods (催发货 records a note for the warehouse)."""


def schema(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required or []}
