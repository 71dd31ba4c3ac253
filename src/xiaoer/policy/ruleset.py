"""The shop's own rules (`rules:` in policy.yaml): conditions (`when`) and an outcome (`then`).

A rule is read for one request (a cancel, a refund, an invoice…) before the built-in checks of
the sections. Its conditions are over the order, the items the request is about, the shopper,
time, the request and the reason read for it; all the conditions written must hold. Outcomes:

- `allow`: grant the request over the built-in windows and reason requirements
  (`returns.*_days`, `returns.exclusions`, `exchange.*days`, `refund.shipped_needs_reason`,
  `price_protection.days`, `cancel.reasons`); the order's state, amounts and stock still apply;
- `deny`: refuse, with `reason`;
- `handoff`: hand the conversation to a human, with `reason`;
- `ask`: ask the shopper for evidence (`say`: the question) until their words show it
  (`evidence`), then read on;
- `compensate`: add `amount` (with `reason`) to the change, recorded as its own amount;
- `offer` / `no_offer`: whether a cancel, refund or return gets the retention offer first.

How they are read is in `evaluate.py`. Cross-field checks are validators, so a problem is
reported at the rule it is about, with its line.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from xiaoer.domain.understanding import ReasonKind
from xiaoer.policy.programmes import Yuan

Request = Literal[
    "cancel", "address", "refund", "return", "exchange", "invoice", "price_protection",
    "installation", "urge", "logistics",
]  # fmt: skip
"""What the shopper asks for; each is one tool's request (`logistics`: where is my parcel)."""
Outcome = Literal["allow", "deny", "handoff", "ask", "compensate", "offer", "no_offer"]
State = Literal["待付款", "待发货", "已发货", "已签收", "已完成", "售后中", "已取消"]
InvoiceType = Literal["电子普通发票", "增值税专用发票"]
Scalar = str | int | float | bool
EVIDENCE = ["照片", "图片", "视频", "拍了", "已上传", "上传了"]
"""Words that show the shopper sent the evidence an `ask` rule asks for (not negated)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Range(_Model):
    """Bounds on a number; each bound written must hold. `over`/`under` exclude the bound,
    `min`/`max` include it."""

    over: float | None = None
    under: float | None = None
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _some(self) -> Self:
        if (self.over, self.under, self.min, self.max) == (None, None, None, None):
            raise ValueError("give at least one of over, under, min, max")
        return self

    def holds(self, value: float | None) -> bool:
        if value is None:
            return False
        return (
            (self.over is None or value > self.over)
            and (self.under is None or value < self.under)
            and (self.min is None or value >= self.min)
            and (self.max is None or value <= self.max)
        )


class Amounts(_Model):
    """Bounds on an amount in 元 (held as 分), like `Range`."""

    over: Yuan | None = None
    under: Yuan | None = None
    min: Yuan | None = None
    max: Yuan | None = None

    @model_validator(mode="after")
    def _some(self) -> Self:
        if (self.over, self.under, self.min, self.max) == (None, None, None, None):
            raise ValueError("give at least one of over, under, min, max")
        return self

    def holds(self, fen: int | None) -> bool:
        if fen is None:
            return False
        return (
            (self.over is None or fen > self.over)
            and (self.under is None or fen < self.under)
            and (self.min is None or fen >= self.min)
            and (self.max is None or fen <= self.max)
        )


class Done(_Model):
    """A limit: how many of these requests were already done (executed or awaiting the
    merchant's approval), per order or per shopper, within the last `days` (or ever)."""

    requests: Annotated[list[Request], Field(min_length=1)]
    per: Literal["order", "shopper"] = "shopper"
    days: Annotated[int, Field(ge=1, le=3650)] | None = None
    min: Annotated[int, Field(ge=1, le=1000)] = 1
    """The condition holds once at least this many were done."""


class When(_Model):
    """Conditions; every one written must hold (an empty `when` holds for every request).
    A list holds when any of its entries does."""

    request: list[Request] = []
    status: list[State] = []
    """The order's state."""
    quality: bool | None = None
    """The reason is a quality problem (a fault read by the understanding step, else the
    `returns.quality_words`)."""
    reason_kind: list[ReasonKind] = []
    """The kind of reason read for the request: defect, missing_or_wrong, not_fit,
    changed_mind, price, late, other, none."""
    said: list[str] = []
    """Words in the shopper's messages (negated ones — 没有… — do not count)."""
    invoice_type: list[InvoiceType] = []
    paid: Amounts | None = None
    """What the order's payment was."""
    quantity: Range | None = None
    """How many pieces the order has (all its lines)."""
    item_price: Amounts | None = None
    """The unit price of an item the request is about."""
    categories: list[str] = []
    tags: list[str] = []
    title_words: list[str] = []
    """Item conditions: an item the request is about (the order's items, when the request is
    about the whole order) is in one of these categories / has one of these tags / a title
    with one of these words; with `item_price`, the same item meets them all."""
    shopper_level: list[str] = []
    shopper: dict[str, Scalar | list[Scalar] | Range] = {}
    """The shopper's `extras`: each key's value is this, one of these, or within the range."""
    days_since_delivery: Range | None = None
    """Days since the order was delivered (or completed), counted as `windows.days` says."""
    hours_since_delivery: Range | None = None
    days_since_payment: Range | None = None
    days_since_completion: Range | None = None
    """Days since the order was completed (确认收货)."""
    tracking_still_hours: Range | None = None
    """Hours since the latest tracking event of a parcel on its way (已发货)."""
    tracking_says: list[str] = []
    """Words in the latest tracking event (e.g. 丢失, 退回)."""
    done: Done | None = None


class Rule(_Model):
    when: When = When()
    unless: When | None = None
    """Conditions that keep the rule from applying even when `when` holds ("只为质量问题换货，
    衣服除外": `when: {request: [exchange], quality: false}`, `unless: {categories: [衣服]}`).
    Every condition written in it must hold for the exception to apply."""
    then: Outcome
    reason: str = ""
    """Why: shown to the shopper in a refusal, to the human in a handoff, and with a
    compensation's amount."""
    say: str = ""
    """What the shopper is told: the question of an `ask`; with other outcomes, a line added to
    the reply."""
    amount: Yuan = 0
    """`compensate`: how much."""
    refund: Literal["order", "item"] = "order"
    """`allow` on a refund: the whole payment, or the paid share of the items the shopper
    named (e.g. a missing item of a several-item order)."""
    evidence: list[str] = EVIDENCE
    """`ask`: words that show the evidence was given."""

    @model_validator(mode="after")
    def _complete(self) -> Self:
        needs = {
            "deny": ("reason", self.reason),
            "compensate": ("reason", self.reason),
            "ask": ("say", self.say),
        }
        if self.then in needs and not needs[self.then][1].strip():
            raise ValueError(f"`then: {self.then}` needs `{needs[self.then][0]}`")
        if self.then == "compensate" and self.amount <= 0:
            raise ValueError("`then: compensate` needs an `amount` above 0")
        if self.refund == "item" and self.then != "allow":
            raise ValueError("`refund: item` goes with `then: allow`")
        return self


class Windows(_Model):
    """How the "N 天" of the after-sales windows is counted."""

    days: Literal["elapsed", "calendar"] = "elapsed"
    """`elapsed`: N×24 hours from the delivery time; `calendar`: N calendar days in the shop's
    timezone counted from the day after delivery (delivered on the 1st, 7 天 runs to the end of
    the 8th)."""
