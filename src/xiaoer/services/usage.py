"""Metering 用量: daily unique shoppers (日 UV) per shop, and the plan that covers them.

A shopper counts once on a day of the shop's calendar (`shop.timezone`) when they sent the shop
at least one message that day, on any channel — a question the bot answered, one a human
answered, or one left unanswered. Merchant API calls, console work, the bot's own and human
agents' messages are not counted.

Plans are the operator's (`XIAOER_PLANS`, a JSON list of `{name, max_daily_uv,
yuan_per_month}`, smallest first); a shop is free while its busiest day stays at or under
`XIAOER_FREE_DAILY_UV` shoppers (default 2,000). The plan a period needs is the smallest one
whose `max_daily_uv` covers the period's busiest day (`null`: no plan is large enough, talk to
the operator). Metering counts; it never refuses a shopper.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.config import Plan
from xiaoer.domain.errors import NotFound
from xiaoer.services.kpis import period
from xiaoer.store.models import ConversationRow, MessageRow
from xiaoer.store.repositories import ShopRepository

__all__ = ["UsageReport", "usage_for_dates"]


@dataclass
class UsageReport:
    shop_id: str
    timezone: str
    since: date
    until: date
    free_daily_uv: int
    plans: list[Plan]
    days: dict[date, int] = field(default_factory=dict)
    """Unique shoppers per day, every day of the period (0 on a quiet day)."""

    @property
    def peak(self) -> tuple[date | None, int]:
        """The busiest day (the latest of equals) and its UV; (None, 0) when nobody wrote."""
        day = max(self.days, key=lambda d: (self.days[d], d), default=None)
        if day is None or self.days[day] == 0:
            return None, 0
        return day, self.days[day]

    def plan_needed(self) -> str | None:
        """The free tier's name when the busiest day fits it, else the smallest plan that
        covers it (None: none does)."""
        _, uv = self.peak
        if uv <= self.free_daily_uv:
            return "free"
        for plan in sorted(self.plans, key=lambda p: p.max_daily_uv):
            if uv <= plan.max_daily_uv:
                return plan.name
        return None

    def as_dict(self) -> dict[str, Any]:
        day, uv = self.peak
        return {
            "shop_id": self.shop_id,
            "timezone": self.timezone,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "free_daily_uv": self.free_daily_uv,
            "plans": [p.model_dump() for p in self.plans],
            "days": [{"day": d.isoformat(), "uv": n} for d, n in sorted(self.days.items())],
            "total_shopper_days": sum(self.days.values()),
            "peak_day": day.isoformat() if day else None,
            "peak_uv": uv,
            "days_over_free": sum(n > self.free_daily_uv for n in self.days.values()),
            "plan_needed": self.plan_needed(),
        }


async def usage_for_dates(
    session: AsyncSession,
    shop_id: str,
    since: str | None,
    until: str | None,
    now: datetime,
    *,
    free_daily_uv: int,
    plans: list[Plan],
) -> UsageReport:
    """The shop's daily UV for two days of its calendar (both included; default the 30 days up
    to today, as `services.kpis.period`)."""
    shop = await ShopRepository(session).get(shop_id)
    if shop is None:
        raise NotFound(f"shop {shop_id!r} not found; `xiaoer shops` lists the shops")
    tz = ZoneInfo(shop.timezone or "Asia/Shanghai")
    start, end = period(shop.timezone, since, until, now)
    first, last = start.date(), end.date()
    report = UsageReport(shop_id, tz.key, first, first, free_daily_uv, plans)
    day = first
    while day < last:
        report.days[day] = 0
        report.until = day
        day = date.fromordinal(day.toordinal() + 1)
    stmt = (
        select(ConversationRow.shopper_id, MessageRow.created_at)
        .join(ConversationRow, ConversationRow.id == MessageRow.conversation_id)
        .where(
            MessageRow.shop_id == shop_id,
            ConversationRow.shop_id == shop_id,
            MessageRow.role == "shopper",
            MessageRow.created_at >= start,
            MessageRow.created_at < end,
        )
    )
    seen: defaultdict[date, set[str]] = defaultdict(set)
    for shopper_id, at in await session.execute(stmt):
        seen[at.astimezone(tz).date()].add(shopper_id)
    for d, shoppers in seen.items():
        if d in report.days:
            report.days[d] = len(shoppers)
    return report
