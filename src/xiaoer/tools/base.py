"""The tool record and the result type shared by every tool."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from xiaoer.llm.base import ToolSpec
from xiaoer.tools.deps import TurnDeps


@dataclass(frozen=True, slots=True)
class ToolResult:
    ok: bool
    text: str
    """What the model reads."""
    data: dict[str, Any] = field(default_factory=dict)
    """Structured facts for events, logs and (later) the output guard."""
    reply: str | None = None
    """A pre-approved reply that settles the turn (e.g. a refusal); sent instead of model text."""


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


def schema(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required or []}
