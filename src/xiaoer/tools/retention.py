"""Retention (挽留): before a cancel, a refund or a return, the shop's offer first — whether and
what is the policy's (`rules.retention_offer`, and the shop's `offer`/`no_offer` rules); the
model may also offer it itself (`offer_retention`). Declined, the request it stood in for runs."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from pydantic.json_schema import SkipJsonSchema

from xiaoer.domain.models import Order
from xiaoer.policy import rules
from xiaoer.policy.ruleset import Request
from xiaoer.policy.verdict import Verdict
from xiaoer.tools import ruled
from xiaoer.tools.base import ToolResult, denied, propose
from xiaoer.tools.deps import TurnDeps
from xiaoer.tools.meant import ReasonArgs, pick_lines, texts
from xiaoer.tools.orders import owned_order


class RetentionArgs(ReasonArgs):
    instead: SkipJsonSchema[str] = "cancel_order"
    """The tool the shopper asked for, run if they turn the offer down."""
    instead_args: SkipJsonSchema[dict[str, Any]] = Field(default_factory=dict)


async def maybe_retain(
    deps: TurnDeps,
    order: Order,
    reason: str,
    instead: str,
    instead_args: dict[str, Any],
    *,
    decided: tuple[str, bool] | None = None,
    basis_fen: int | None = None,
) -> ToolResult | None:
    """Before a cancel or a return for price or hesitation, the shop's retention offer first
    (`decided`: a shop rule's `offer`/`no_offer`; `basis_fen`: what the items given back cost)."""
    verdict, offer = await _retention_offer(deps, order, reason, decided, basis_fen)
    if offer is None:
        return None
    args = RetentionArgs(
        order_id=order.id, reason=reason, instead=instead, instead_args=instead_args
    )
    return _retention(deps, order, verdict, offer, args)


async def _retention_offer(
    deps: TurnDeps,
    order: Order,
    reason: str,
    decided: tuple[str, bool] | None,
    basis_fen: int | None,
) -> tuple[Verdict, rules.RetentionOffer | None]:
    """The policy's retention decision. An order had an offer when one was proposed in a chat
    (`actions_on`) or the ledger has one (given by any other hand)."""
    ledger = await deps.commerce.records_for(deps.shopper.id, order_id=order.id, kind="retention")
    return rules.retention_offer(
        deps.policy,
        order,
        texts(deps, reason, order),
        offers_on_order=max(deps.actions_on("offer_retention", order.id), len(ledger)),
        offers_to_shopper=deps.actions_on(
            "offer_retention", days=deps.policy.retention.window_days
        ),
        basis_fen=basis_fen,
        decided=decided,
    )


def _retention(
    deps: TurnDeps,
    order: Order,
    verdict: Verdict,
    offer: rules.RetentionOffer,
    args: RetentionArgs,
) -> ToolResult:
    what = offer.describe()
    keep = "订单照常发货" if order.status in rules.UNSHIPPED else "商品您继续留着用"
    instead = {"cancel_order": "取消", "request_return": "退货", "request_refund": "退款"}.get(
        args.instead, "取消"
    )
    kind = offer.offer.kind
    return propose(
        deps,
        "offer_retention",
        args,
        order=order,
        summary=f"订单 {order.id}：给您{what}作为补偿，{keep}",
        verdict=verdict,
        done=f"已为您发放{what}，{keep}。感谢您的理解和支持～",
        kind="retention",
        status="已发放" if kind != "partial_refund" else "退款中",
        amount_fen=offer.amount_fen,
        detail={"offer": kind, "describe": what, "valid_days": offer.offer.valid_days},
        ask=(
            f"理解您的顾虑～这单店铺可以给您{what}作为补偿，{keep}。\n"
            f"接受请回复「确认」；如果还是想{instead}，回复「还是{instead}」。"
        ),
    )


INSTEAD: dict[str, Request] = {
    "cancel_order": "cancel",
    "request_refund": "refund",
    "request_return": "return",
}
"""The request a retention offer stands in for, by its tool."""


async def offer_retention(deps: TurnDeps, args: RetentionArgs) -> ToolResult:
    """The model may offer retention itself; the policy still decides whether and what."""
    order, problem = await owned_order(deps, args.order_id)
    if order is None:
        return problem
    reason = args.reason
    instead = args.instead
    instead_args = args.instead_args or {"order_id": order.id}
    request = INSTEAD.get(instead, "cancel")
    lines = None
    if request == "return":
        lines = pick_lines(order, str(instead_args.get("item") or ""), deps.said)
    decision = await ruled.judge(deps, request, order, texts(deps, reason, order), lines=lines)
    basis = rules.line_share(order, lines) if lines else None
    verdict, offer = await _retention_offer(deps, order, reason, decision.offer, basis)
    if offer is None:
        return denied(verdict, "给补偿", order)
    args = RetentionArgs(
        order_id=order.id, reason=reason, instead=instead, instead_args=instead_args
    )
    return _retention(deps, order, verdict, offer, args)
