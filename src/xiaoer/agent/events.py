"""Typed events a turn emits while it runs; the API streams them as SSE (see api/sse.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Accepted:
    """The shopper's message is stored (durable) and the turn has started."""

    conversation_id: str
    message_id: int
    type: str = "accepted"


@dataclass(frozen=True, slots=True)
class ToolStarted:
    name: str
    arguments: dict[str, Any]
    type: str = "tool_call"


@dataclass(frozen=True, slots=True)
class ToolFinished:
    name: str
    ok: bool
    latency_ms: int
    type: str = "tool_result"


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str
    reset: bool = False
    """This text replaces every delta before it (the reply streamed under the guard was not
    the one sent in the end: `agent/streaming.py`)."""
    type: str = "delta"


@dataclass(frozen=True, slots=True)
class Queued:
    """The model is busy with other conversations and this turn waits in line for it: `ahead`
    turns before it, `text` the holding reply for the shopper. Told again as the line moves,
    and with `waiting=False` when the turn's call goes ahead (`llm/gate.py`)."""

    ahead: int
    text: str
    waiting: bool = True
    eta_s: float | None = None
    """About how long until the turn's call goes ahead, from the line's pace (None: unknown)."""
    type: str = "queued"


@dataclass(frozen=True, slots=True)
class ToolCallRecord:
    name: str
    arguments: dict[str, Any]
    result: str
    ok: bool
    latency_ms: int = 0


@dataclass(slots=True)
class TurnResult:
    reply: str
    conversation_id: str
    message_id: int
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    llm_calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cached_tokens: int = 0
    latency_ms: int = 0
    ttft_ms: int | None = None
    fallback: bool = False
    replayed: bool = False
    """True when this is the stored answer to a message sent before (same client key)."""
    actions: list[dict[str, Any]] = field(default_factory=list)
    """Actions this turn proposed, executed, declined or sent for approval (id, tool,
    arguments, status, summary, amount, policy_verdict)."""
    citations: list[dict[str, Any]] = field(default_factory=list)
    """Knowledge snippets the reply drew on (source_id, kind, title, snippet, …)."""
    guard: list[dict[str, Any]] = field(default_factory=list)
    """The guards' verdicts: the input check (flags, mood) and, per attempt, each output layer
    (`rules`, `compliance`, `leak`, `judge`, then `knowledge` or `handoff` as the fallback)."""
    guard_ms: int = 0
    """Time the output guard added to the turn (its checks, the judge, any rewrite)."""
    handoff: dict[str, Any] | None = None
    """Set when the conversation is (or was just) queued for a human: id, reason, status, …"""
    waited_ms: int = 0
    """Of `latency_ms`, the time the turn waited in line: for one of its process's turn slots
    and for the model's slots (`llm/gate.py`) — the capacity the shop gave the model, not the
    turn's own work."""
    model_ms: int = 0
    """Of `latency_ms`, the time the turn's model calls took once each had its slot, all its
    calls together (a turn makes them one after another)."""
    queued_ms: int = 0
    """Before `latency_ms` (which a turn worker counts from when it took the message): the time
    the message waited on the Redis queue until a turn worker took it, by the clocks of the API
    process that queued it and of the worker (0 when the API process answers it itself)."""
    type: str = "done"

    def public(self) -> dict[str, Any]:
        """What the shopper's client gets: the guard's verdicts stay with the shop (they name
        what a rejected draft claimed, and the console shows them)."""
        data = self.full()
        data.pop("guard")
        data.pop("guard_ms")
        return data

    def full(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("type")
        return data


type Event = Accepted | Queued | ToolStarted | ToolFinished | TextDelta | TurnResult
type Emit = Callable[[Event], Awaitable[None]]


async def ignore(_event: Event) -> None:
    return None


def event_payload(event: Event) -> dict[str, Any]:
    if isinstance(event, TurnResult):
        return event.public()
    data = asdict(event)
    data.pop("type")
    return data
