"""`TurnDeps`: everything a tool may touch during one shopper turn."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from xiaoer.commerce.base import CommerceBackend
from xiaoer.domain.models import Shop, Shopper


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

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.shop.timezone or "Asia/Shanghai")

    def local(self, when: datetime) -> datetime:
        return when.astimezone(self.tz)

    def shopper_said(self, value: object) -> bool:
        """Whether `value` appears in the shopper's own words (case-insensitive)."""
        needle = str(value).strip().lower()
        return bool(needle) and any(needle in text.lower() for text in self.said)

    def on_record(self, value: object) -> bool:
        """Whether `value` appears in the shopper's words or in a tool result."""
        needle = str(value).strip().lower()
        return self.shopper_said(value) or any(needle in text.lower() for text in self.seen)
