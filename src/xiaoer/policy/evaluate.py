"""Reading the shop's rules (`ruleset.py`) for one request: the facts they read, and what they
decided.

Rules are read top to bottom. A rule whose conditions all hold applies: `allow`, `deny` and
`handoff` end the reading (the first one decides); `ask` ends it unless the shopper's words
already show the evidence; `compensate` adds its amount and reading goes on; of `offer` and
`no_offer` the first that applies decides whether a retention offer is made. The built-in
checks of the sections come after, on what the rules left open.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from xiaoer.domain.models import Order, OrderLine, OrderStatus, Product
from xiaoer.policy.rules import age_days, is_quality, mentions
from xiaoer.policy.ruleset import Range, Request, Rule, When
from xiaoer.policy.schema import ShopPolicy
from xiaoer.policy.verdict import Verdict, allow, deny

TOOLS: dict[str, str] = {
    "cancel": "cancel_order",
    "address": "change_address",
    "refund": "request_refund",
    "return": "request_return",
    "exchange": "request_exchange",
    "invoice": "request_invoice",
    "price_protection": "price_protection",
    "installation": "schedule_installation",
    "urge": "urge_shipment",
    "logistics": "track_logistics",
}
"""Each request and the tool that carries it (what `done` counts in the action history)."""
DONE = frozenset({"executed", "awaiting_approval", "approved"})
"""Action states that count as done for `done` limits."""


class Past(Protocol):
    """An action proposed earlier for the shopper (the tools' `PastAction`)."""

    @property
    def tool(self) -> str: ...
    @property
    def order_id(self) -> str | None: ...
    @property
    def status(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class Facts:
    """What the rules read about one request."""

    request: Request
    order: Order
    lines: Sequence[OrderLine]
    """The items the request is about (all the order's when it is about the whole order)."""
    products: Mapping[str, Product]
    said: Sequence[str]
    """The shopper's words (a `rules.Said`, which carries the fault the reading found)."""
    now: datetime
    """In the shop's timezone (calendar days are counted there)."""
    reason_kind: str = "none"
    level: str = ""
    extras: Mapping[str, Any] = field(default_factory=dict)
    """The shopper's `extras`."""
    invoice_type: str = ""
    past: Sequence[Past] = ()


@dataclass(frozen=True, slots=True)
class Compensation:
    amount_fen: int
    reason: str
    rule: str
    say: str = ""


@dataclass(frozen=True, slots=True)
class Decision:
    """What the rules decided for one request."""

    then: str = ""
    """allow, deny, handoff or ask: the rule that ended the reading; "" when none did."""
    rule: str = ""
    """`rules.N`, the rule that ended the reading."""
    reason: str = ""
    say: str = ""
    refund: str = "order"
    compensations: tuple[Compensation, ...] = ()
    offer: tuple[str, bool] | None = None
    """The first `offer`/`no_offer` rule that applied, and whether it offers."""

    @property
    def verdict(self) -> Verdict | None:
        """The stopping rule as a verdict: `allow` grants, `deny` and `handoff` refuse (a
        handoff is the human's to do)."""
        if self.then == "allow":
            return allow(self.rule, self.reason or "符合店铺规则")
        if self.then in ("deny", "handoff"):
            return deny(self.rule, self.reason or "店铺规则要求人工处理")
        return None

    @property
    def granted(self) -> Verdict | None:
        """An `allow` rule's verdict, which the built-in checks take over their own terms."""
        return self.verdict if self.then == "allow" else None

    @property
    def compensation_fen(self) -> int:
        return sum(c.amount_fen for c in self.compensations)


def decide(policy: ShopPolicy, facts: Facts) -> Decision:
    """Read the shop's rules for `facts` (see the module docstring)."""
    compensations: list[Compensation] = []
    offer: tuple[str, bool] | None = None
    for i, rule in enumerate(policy.rules):
        if not holds(policy, rule.when, facts):
            continue
        if rule.unless is not None and holds(policy, rule.unless, facts):
            continue
        name = f"rules.{i}"
        if rule.then == "compensate":
            compensations.append(Compensation(rule.amount, rule.reason, name, rule.say))
        elif rule.then in ("offer", "no_offer"):
            offer = offer or (name, rule.then == "offer")
        elif rule.then != "ask" or mentions(facts.said, rule.evidence) is None:
            return _stop(rule, name, tuple(compensations), offer)
    return Decision(compensations=tuple(compensations), offer=offer)


def _stop(
    rule: Rule, name: str, compensations: tuple[Compensation, ...], offer: tuple[str, bool] | None
) -> Decision:
    return Decision(rule.then, name, rule.reason, rule.say, rule.refund, compensations, offer)


# ---------- conditions ----------


def holds(policy: ShopPolicy, when: When, facts: Facts) -> bool:
    """Whether every condition written in `when` holds for `facts`."""
    return all(check(policy, when, facts) for check in _CHECKS)


def _request(policy: ShopPolicy, when: When, f: Facts) -> bool:
    return (not when.request or f.request in when.request) and (
        not when.invoice_type or f.invoice_type in when.invoice_type
    )


def _order(policy: ShopPolicy, when: When, f: Facts) -> bool:
    pieces = sum(ln.quantity for ln in f.order.lines)
    return (
        (not when.status or f.order.status.value in when.status)
        and (when.paid is None or when.paid.holds(f.order.pay_fen))
        and (when.quantity is None or when.quantity.holds(pieces))
    )


def _reason(policy: ShopPolicy, when: When, f: Facts) -> bool:
    return (
        (when.quality is None or is_quality(policy, f.said) == when.quality)
        and (not when.reason_kind or f.reason_kind in when.reason_kind)
        and (not when.said or mentions(f.said, when.said) is not None)
    )


def _items(policy: ShopPolicy, when: When, f: Facts) -> bool:
    if not (when.categories or when.tags or when.title_words or when.item_price):
        return True
    return any(_item(when, line, f.products.get(line.product_id)) for line in f.lines)


def _item(when: When, line: OrderLine, product: Product | None) -> bool:
    category = product.category if product else ""
    tags = product.tags if product else ()
    return (
        (not when.categories or category in when.categories)
        and (not when.tags or any(t in tags for t in when.tags))
        and (not when.title_words or any(w in line.title for w in when.title_words))
        and (when.item_price is None or when.item_price.holds(line.unit_price_fen))
    )


def _shopper(policy: ShopPolicy, when: When, f: Facts) -> bool:
    if when.shopper_level and f.level not in when.shopper_level:
        return False
    return all(_extra(f.extras.get(key), want) for key, want in when.shopper.items())


def _extra(value: Any, want: Any) -> bool:
    if isinstance(want, Range):
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        return number and want.holds(float(value))
    wants = want if isinstance(want, list) else [want]
    return any(_same(value, w) for w in wants)


def _same(value: Any, want: Any) -> bool:
    if isinstance(value, bool) or isinstance(want, bool):
        return value is want
    return value == want or (value is not None and str(value) == str(want))


def _time(policy: ShopPolicy, when: When, f: Facts) -> bool:
    o, now = f.order, f.now
    delivered = o.delivered_at or o.completed_at
    hours = None if delivered is None else (now - delivered).total_seconds() / 3600
    windows = (
        (when.days_since_delivery, age_days(policy, delivered, now)),
        (when.hours_since_delivery, hours),
        (when.days_since_payment, age_days(policy, o.paid_at or o.created_at, now)),
        (when.days_since_completion, age_days(policy, o.completed_at, now)),
    )
    return all(bound is None or bound.holds(value) for bound, value in windows)


def _tracking(policy: ShopPolicy, when: When, f: Facts) -> bool:
    shipment = f.order.shipment
    latest = shipment.latest if shipment is not None else None
    if when.tracking_still_hours is not None:
        moving = f.order.status == OrderStatus.SHIPPED and latest is not None
        still = (f.now - latest.time).total_seconds() / 3600 if moving and latest else None
        if not when.tracking_still_hours.holds(still):
            return False
    if when.tracking_says:
        scan = f"{latest.status} {latest.detail}" if latest is not None else ""
        return any(word in scan for word in when.tracking_says)
    return True


def _done(policy: ShopPolicy, when: When, f: Facts) -> bool:
    if when.done is None:
        return True
    limit = when.done
    tools = {TOOLS[r] for r in limit.requests}
    count = sum(
        1
        for a in f.past
        if a.tool in tools
        and a.status in DONE
        and (limit.per == "shopper" or a.order_id == f.order.id)
        and (limit.days is None or (f.now - a.created_at).total_seconds() < limit.days * 86400)
    )
    return count >= limit.min


_CHECKS: tuple[Callable[[ShopPolicy, When, Facts], bool], ...] = (
    _request, _order, _reason, _items, _shopper, _time, _tracking, _done,
)  # fmt: skip
