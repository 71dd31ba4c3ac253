"""The tool record and the result type shared by every tool."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, get_type_hints

from pydantic import ValidationError

from xiaoer.domain.models import Address, Change, Order, OrderStatus
from xiaoer.llm.base import ToolSpec
from xiaoer.policy.verdict import Verdict
from xiaoer.tools.args import ToolArgs, parameters, retry_hint
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
    """Structured facts for events, logs and the output guard. `asks`: the reply asks the
    shopper for what the change still needs — `item` (which item of the order) or `details`
    (an address, an option, a time, an invoice title); after-sales flows read it."""
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
    args: type[ToolArgs] | None = None
    """A typed tool's arguments model (`typed`): the schema is generated from it and `run`
    validates against it. None for tools with a hand-written schema (the τ adapter's)."""


def schema(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    """A hand-written schema (for tools that are not `typed`)."""
    return {"type": "object", "properties": properties, "required": required or []}


def typed[A: ToolArgs](
    name: str,
    description: str,
    fn: Callable[[TurnDeps, A], Awaitable[ToolResult]],
    *,
    mutating: bool = False,
    answers: bool = True,
    answer_hint: str = "",
    confirm: bool = True,
) -> Tool:
    """A tool from a typed function `fn(deps, args)`: the schema is generated from the
    `ToolArgs` model its second parameter is annotated with, and the arguments are validated
    before it runs — bad ones are answered with a retry hint naming the argument and what it
    should be (an `ok=False` result, never an exception)."""
    second = list(inspect.signature(fn).parameters)[1]
    model = get_type_hints(fn)[second]
    if not (isinstance(model, type) and issubclass(model, ToolArgs)):
        raise TypeError(f"{fn.__name__}: the second parameter must be a ToolArgs model")

    async def run(deps: TurnDeps, raw: dict[str, Any]) -> ToolResult:
        try:
            args = model.model_validate(raw)
        except ValidationError as error:
            text, names = retry_hint(model, error)
            return ToolResult(False, text, {"invalid": names})
        return await fn(deps, args)

    spec = ToolSpec(name, description, parameters(model))
    return Tool(spec, run, mutating, answers, answer_hint, confirm, model)


def denied(verdict: Verdict, what: str, order: Order | None = None) -> ToolResult:
    """A policy "no": the model reads why; the shopper gets the reason and the way forward."""
    reason = verdict.reason
    if order:
        reason = f"订单 {order.id} " + reason.removeprefix("这个订单").removeprefix("订单")
    reply = f"抱歉，{reason.rstrip('。')}。"
    return ToolResult(
        True,
        f"不能{what}：{verdict.reason}（规则 {verdict.rule}）",
        {"verdict": verdict.as_dict()},
        reply,
    )


def propose(
    deps: TurnDeps,
    tool: str,
    args: ToolArgs,
    *,
    order: Order | None,
    summary: str,
    verdict: Verdict,
    done: str,
    kind: str,
    status: str,
    amount_fen: int = 0,
    recorded_fen: int | None = None,
    detail: dict[str, Any] | None = None,
    order_status: OrderStatus | None = None,
    order_extras: dict[str, Any] | None = None,
    address: Address | None = None,
    ask: str = "",
) -> ToolResult:
    """A mutating tool's answer: the change it proposes for the shopper to confirm.

    `args` are the normalised arguments the action desk runs the tool again with at execution
    time; `amount_fen` is the money the shopper gets back (shown with the action), and the
    change records `recorded_fen` instead when that differs (an invoice's amount)."""
    order_id = order.id if order else None
    change = Change(
        key="",
        kind=kind,
        shopper_id=deps.shopper.id,
        order_id=order_id,
        amount_fen=amount_fen if recorded_fen is None else recorded_fen,
        status=status,
        detail=detail or {},
        order_status=order_status,
        address=address,
        order_extras=order_extras or {},
    )
    p = Proposal(tool, args.model_dump(), order_id, summary, verdict, change, done, amount_fen, ask)
    return ToolResult(
        True,
        f"已生成待顾客确认的操作：{p.summary}",
        {"verdict": p.verdict.as_dict(), "amount_fen": p.amount_fen},
        proposal=p,
    )
