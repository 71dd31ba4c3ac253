"""`TurnDeps`: everything a tool may touch during one shopper turn."""

from __future__ import annotations

from dataclasses import dataclass
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

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.shop.timezone or "Asia/Shanghai")

    def local(self, when: datetime) -> datetime:
        return when.astimezone(self.tz)
