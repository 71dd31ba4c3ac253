"""`TurnDeps`: everything a tool may touch during one shopper turn."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from xiaoer.commerce.base import CommerceBackend
from xiaoer.domain.models import Shop, Shopper
from xiaoer.domain.understanding import AFTERSALES, Understanding
from xiaoer.knowledge import KnowledgeBase
from xiaoer.policy.schema import ShopPolicy


@dataclass(frozen=True, slots=True)
class PastAction:
    """An action proposed earlier for this shopper (any conversation), for per-order and
    per-shopper limits such as "one retention offer per order"."""

    id: str
    tool: str
    order_id: str | None
    status: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TurnDeps:
    """Shop and shopper come from the authenticated session, never from model arguments."""

    shop: Shop
    shopper: Shopper
    commerce: CommerceBackend
    now: datetime
    said: list[str] = field(default_factory=list)
    """What the shopper wrote in this conversation (earlier messages and this turn's)."""
    seen: list[str] = field(default_factory=list)
    """Tool results the model has seen in this conversation."""
    policy: ShopPolicy = field(default_factory=ShopPolicy)
    past_actions: list[PastAction] = field(default_factory=list)
    knowledge: KnowledgeBase | None = None
    """The shop's knowledge (documents, catalog facts, approved FAQ, merchant facts)."""
    readings: list[Understanding] = field(default_factory=list)
    """What the shopper's messages in this conversation were understood to mean, oldest first
    (earlier turns' from their stored replies, then this turn's)."""
    handoffs: list[str] = field(default_factory=list)
    """Reasons the shop's rules gave in this turn for a human to take over (a tool whose rule
    says `handoff` adds one; the turn's handoff decision reads them, whichever way the tool was
    called)."""

    def stated_fault(self) -> bool | None:
        """Whether the reason the shopper gave for their after-sales request is a fault with the
        goods (broken, defective, missing or wrong items), as the understanding step read it:
        the latest reason read (from a request, or from an answer to "what is the reason");
        None when no reason was read (the merchant's words decide, a word of the item's own
        name aside: `rules.Said.names`; seen on the tuned suite: "…左耳没声音，能换个新的吗？"
        read as an exchange with no reason, and asked which colour)."""
        for r in reversed(self.readings):
            if r.reason_kind not in ("none", "other") and r.want in AFTERSALES | {"other"}:
                return r.quality
        return None

    def actions_on(self, tool: str, order_id: str | None = None, *, days: int | None = None) -> int:
        """How many `tool` actions were offered on the order, or to the shopper in the last
        `days`: pending, declined, executed or awaiting approval. Not counted: superseded,
        expired or blocked ones, and the one being confirmed right now (its own re-check at
        execution time must not count it against itself)."""
        live = {"pending", "executed", "declined", "awaiting_approval"}
        return sum(
            1
            for a in self.past_actions
            if a.tool == tool
            and a.status in live
            and (order_id is None or a.order_id == order_id)
            and (days is None or (self.now - a.created_at).days < days)
        )

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.shop.timezone or "Asia/Shanghai")

    def local(self, when: datetime) -> datetime:
        return when.astimezone(self.tz)

    def shopper_said(self, value: object) -> bool:
        """Whether `value` appears in the shopper's own words (case-insensitive, spaces ignored)."""
        needle = "".join(str(value).split()).lower()
        return bool(needle) and any(needle in "".join(text.split()).lower() for text in self.said)

    def on_record(self, value: object) -> bool:
        """Whether `value` appears in the shopper's words or in a tool result."""
        needle = str(value).strip().lower()
        return self.shopper_said(value) or any(needle in text.lower() for text in self.seen)
