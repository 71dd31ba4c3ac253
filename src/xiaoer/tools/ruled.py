"""The shop's own rules (`policy.yaml` `rules:`) in the tools: the facts of a request as the turn
has them, and what each outcome becomes in a tool's result.

- `deny`: the usual refusal (`denied`), with the rule's reason;
- `handoff`: a result carrying `{"handoff": reason}` (the turn hands the conversation over),
  the reason also noted in `TurnDeps.handoffs` (read whichever way the tool was called);
- `ask`: a canned reply asking for the evidence, `"asks": "details"` in its data;
- `allow`: the tool's built-in check runs with the rule as its verdict (`granted`);
- `compensate`: an amount recorded with the change, apart from the refund (`compensation`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from xiaoer.domain.models import Order, OrderLine, Product
from xiaoer.domain.money import yuan
from xiaoer.domain.understanding import AFTERSALES
from xiaoer.policy import rules
from xiaoer.policy.evaluate import Decision, Facts, decide
from xiaoer.policy.ruleset import Request
from xiaoer.tools.base import ToolResult, denied
from xiaoer.tools.deps import TurnDeps


def reason_kind(deps: TurnDeps) -> str:
    """The kind of reason read for the shopper's latest after-sales request ("none" if none)."""
    for r in reversed(deps.readings):
        if r.reason_kind != "none" and r.want in AFTERSALES | {"other"}:
            return r.reason_kind
    return "none"


async def judge(
    deps: TurnDeps,
    request: Request,
    order: Order,
    said: Sequence[str] | None = None,
    *,
    lines: Sequence[OrderLine] | None = None,
    invoice_type: str = "",
) -> Decision:
    """What the shop's rules decide for `request` on `order` (about `lines`, else all of it).
    `said`: the words the rules read (the shopper's, with the fault the reading found)."""
    if not deps.policy.rules:
        return Decision()
    if said is None:
        said = rules.Said.of(deps.said, deps.stated_fault(), [ln.title for ln in order.lines])
    about = list(order.lines) if lines is None else list(lines)
    products: dict[str, Product] = {}
    for ln in about:
        if ln.product_id not in products and (p := await deps.commerce.get_product(ln.product_id)):
            products[ln.product_id] = p
    facts = Facts(
        request,
        order,
        about,
        products,
        said,
        deps.local(deps.now),
        reason_kind(deps),
        deps.shopper.level,
        getattr(deps.shopper, "extras", None) or {},  # the domain Shopper may not carry extras
        invoice_type,
        deps.past_actions,
    )
    return decide(deps.policy, facts)


def stopped(deps: TurnDeps, decision: Decision, order: Order, what: str) -> ToolResult | None:
    """The result of a rule that refuses the request or hands it over; None otherwise."""
    verdict = decision.verdict
    if verdict is None or decision.then == "allow":
        return None
    if decision.then == "deny":
        result = denied(verdict, what, order)
        if decision.say and result.reply:
            return ToolResult(result.ok, result.text, result.data, f"{result.reply}{decision.say}")
        return result
    reason = verdict.reason
    deps.handoffs.append(reason)
    reply = f"订单 {order.id} 的{what}需要由人工客服处理：{reason.rstrip('。')}。{decision.say}"
    return ToolResult(
        True,
        f"按店铺规则（{verdict.rule}），{what}转人工处理：{reason}",
        {"handoff": reason, "order_id": order.id, "verdict": verdict.as_dict()},
        reply,
    )


def asked(decision: Decision, order: Order) -> ToolResult | None:
    """An `ask` rule's question (the evidence it needs), or None."""
    if decision.then != "ask":
        return None
    return ToolResult(
        True,
        f"按店铺规则（{decision.rule}），先问顾客：{decision.say}",
        {"order_id": order.id, "asks": "details", "rule": decision.rule},
        decision.say,
    )


def compensation(decision: Decision) -> tuple[str, dict[str, Any]]:
    """A change's compensation as the shopper is told it ("" when none) and as it is recorded
    (`compensation_fen` beside the change's own amount, and each rule's part)."""
    if not decision.compensations:
        return "", {}
    parts = "；".join(
        f"{c.reason}{yuan(c.amount_fen)}" + (f"（{c.say}）" if c.say else "")
        for c in decision.compensations
    )
    record = {
        "compensation_fen": decision.compensation_fen,
        "compensations": [
            {"amount_fen": c.amount_fen, "reason": c.reason, "rule": c.rule}
            for c in decision.compensations
        ],
    }
    return f"另补偿：{parts}。", record
