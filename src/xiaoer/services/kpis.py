"""Merchant KPIs (客服考核指标): the platform service KPIs merchants are judged by, computed
with each platform's own rule (research notes `anchors_cn.md` §3), beside our own figures.

The period is [since, until), tz-aware; days and clock windows are the shop's timezone
(`shop.timezone`). docs/kpis.md has the same definitions for merchants, in Chinese first.

What counts as an answer (`kpi_rules.is_answer`): a human agent's message (`agent`), or the
bot's reply to a buyer message (`assistant` with `reply_to`). The platforms count bot replies
sent through their bot integration (淘宝: 店小蜜 and ISV bots such as 乐言/晓多), so xiaoer's
replies count for 淘宝 and 京东. Not answers: the notice sent while a conversation waits for a
human (`meta.notice`: it only says a human will answer), review outcomes (no `reply_to`) and
whispers. 抖店's rate is 人工 (human): only `agent` messages count there.

A round (轮次) runs from a buyer message nobody is answering yet to the first answer; more
buyer messages before that answer belong to the same round. A consult (咨询) is a
conversation's first round. Clock windows are half-open: 08:00–23:00 holds 08:00, not 23:00.

- `taobao_3min_response_rate` 淘宝 3分钟响应率: rounds whose first buyer message came
  08:00–23:00, answered within 180 s / those rounds.
- `jd_30s_answer_rate` 京东 30秒应答率: online consults answered within 30 s / online
  consults. A consult is 留言 (left message), not online, when it began outside 09:00–23:00,
  or when it was never answered and began outside the shop's `working_hours` (nobody was on
  duty: the shop was offline). A never-answered consult inside working hours is a miss.
- `jd_message_left_rate` 京东 留言率: 留言 consults / all consults (JD requires < 50% a month).
- `douyin_3min_human_reply_rate` 抖店 3分钟人工回复率: for conversations handed to a human,
  the buyer messages a human answered within 180 s / those messages, 08:00–23:00. The
  handed-over message is clocked from the handoff (`HandoffRow.created_at`; a takeover a
  human started has none), each later buyer message from when it was sent, until the first
  `agent` message at or after it and before the handoff closed.
- `avg_response_seconds` 平均响应时长: mean wait of answered rounds, any hour, each wait
  capped at 600 s (淘宝's cap). `human_avg_reply_seconds`: the same for 抖店's units, uncapped.
- `answered_without_handoff_rate` 未转人工解决率: conversations (first buyer message in the
  period) the bot answered and that were never handed over / conversations.
- `handoff_rate` 转人工率: conversations with a handoff (any time) / conversations.
  `handoff_reasons`: handoffs started in the period, counted by reason.
- `resolution_verified_rate` 办结率（以店铺记录为准）: conversations with an executed action
  whose effect is in the after-sales ledger (`ServiceRecordRow.key` = action id) /
  conversations with a proposed action. A question-only conversation has no store state to
  verify and is not counted.
- `csat` 满意率: ratings given in the period (the shopper's 1–5 score of a conversation,
  `POST /v1/conversations/{id}/rating`; the widget asks for it) of 4 or 5 / ratings given.
- `presales_conversion_rate`: None, no data source (`kpi_rules.NO_CONVERSION`).
- `latency_p50_ms` / `latency_p95_ms`: nearest-rank percentiles of the bot turns' `latency_ms`;
  `tokens_in_per_turn` / `tokens_out_per_turn`: their mean tokens (turns that recorded them).

A rate with nothing to count is None with the reason, never 0 or 1. The daily series repeats
the figures per day of the shop's timezone, each counted on its own day.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.domain.errors import BadInput, NotFound
from xiaoer.services.kpi_rules import Conversation, Figure, Hours, Period, figures, shop_hours
from xiaoer.store.models import ActionRow, HandoffRow, MessageRow, RatingRow, ServiceRecordRow
from xiaoer.store.repositories import ShopRepository

__all__ = ["LABELS", "MAX_DAYS", "Figure", "KpiReport", "compute", "compute_for_dates", "period"]

LABELS: dict[str, tuple[str, str]] = {
    "conversations": ("会话数", "conversations"),
    "rounds": ("咨询轮次", "rounds"),
    "taobao_3min_response_rate": ("淘宝 3分钟响应率", "Taobao 3-min response rate"),
    "jd_30s_answer_rate": ("京东 30秒应答率", "JD 30-s answer rate"),
    "jd_message_left_rate": ("京东 留言率", "JD message-left rate"),
    "douyin_3min_human_reply_rate": ("抖店 3分钟人工回复率", "Douyin 3-min human reply rate"),
    "avg_response_seconds": ("平均响应时长（秒）", "average response time (s)"),
    "human_avg_reply_seconds": ("人工平均回复时长（秒）", "human average reply time (s)"),
    "answered_without_handoff_rate": ("未转人工解决率", "answered without handoff"),
    "handoff_rate": ("转人工率", "handoff rate"),
    "resolution_verified_rate": ("办结率（店铺记录）", "resolution verified by store state"),
    "csat": ("满意率（顾客评价）", "CSAT (shopper ratings)"),
    "presales_conversion_rate": ("询单转化率", "conversion after pre-sales chats"),
    "latency_p50_ms": ("回复耗时 p50（毫秒）", "latency p50 (ms)"),
    "latency_p95_ms": ("回复耗时 p95（毫秒）", "latency p95 (ms)"),
    "tokens_in_per_turn": ("每轮输入 tokens", "tokens in per turn"),
    "tokens_out_per_turn": ("每轮输出 tokens", "tokens out per turn"),
}
"""Each figure's Chinese and English label, in display order."""
MAX_DAYS = 366
"""The longest period asked for at once (the daily series has one entry per day)."""


@dataclass(frozen=True, slots=True)
class Day:
    day: date
    figures: list[Figure]


@dataclass(frozen=True, slots=True)
class KpiReport:
    shop_id: str
    timezone: str
    working_hours: Hours
    since: datetime
    until: datetime
    figures: list[Figure]
    handoff_reasons: dict[str, int]
    daily: list[Day]

    def figure(self, key: str) -> Figure:
        return next(f for f in self.figures if f.key == key)

    def as_dict(self) -> dict[str, Any]:
        return {
            "shop_id": self.shop_id,
            "timezone": self.timezone,
            "working_hours": str(self.working_hours),
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "figures": {f.key: _figure_dict(f) for f in self.figures},
            "handoff_reasons": self.handoff_reasons,
            "daily": [
                {"day": d.day.isoformat(), **{f.key: _value(f.value) for f in d.figures}}
                for d in self.daily
            ],
        }


def _value(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _figure_dict(f: Figure) -> dict[str, Any]:
    zh, en = LABELS[f.key]
    out: dict[str, Any] = {"label": zh, "label_en": en, "value": _value(f.value), "unit": f.unit}
    if f.total is not None:
        out |= {"hits": f.hits, "total": f.total} if f.unit == "rate" else {"total": f.total}
    if f.reason:
        out["reason"] = f.reason
    return out


async def compute(
    session: AsyncSession, shop_id: str, since: datetime, until: datetime
) -> KpiReport:
    """The shop's KPIs for [since, until) (tz-aware), with one entry per day of the shop's
    timezone. Read-only: the caller's session is not committed."""
    if since.tzinfo is None or until.tzinfo is None:
        raise BadInput("the period's bounds must be tz-aware")
    if since >= until:
        raise BadInput(f"empty period: since {since.isoformat()} is not before until")
    shop = await ShopRepository(session).get(shop_id)
    if shop is None:
        raise NotFound(f"shop {shop_id!r} not found; `xiaoer shops` lists the shops")
    tz = ZoneInfo(shop.timezone or "Asia/Shanghai")
    hours = shop_hours(shop.working_hours)
    conversations = await load_conversations(session, shop_id, since, until)
    main, reasons = figures(conversations, Period(since, until, tz, hours))
    daily = [
        Day(day, figures(conversations, Period(max(since, start), min(until, end), tz, hours))[0])
        for day, start, end in _days(since, until, tz)
    ]
    return KpiReport(shop_id, str(tz), hours, since, until, main, reasons, daily)


def _days(since: datetime, until: datetime, tz: ZoneInfo) -> list[tuple[date, datetime, datetime]]:
    out: list[tuple[date, datetime, datetime]] = []
    day = since.astimezone(tz).date()
    while (start := datetime.combine(day, time(), tz)) < until:
        end = datetime.combine(day + timedelta(days=1), time(), tz)
        out.append((day, start, end))
        day += timedelta(days=1)
    return out


def period(
    tz_name: str, since: str | None, until: str | None, now: datetime
) -> tuple[datetime, datetime]:
    """The period named by two days of the shop's calendar (`YYYY-MM-DD`, both included):
    by default the 30 days up to today (淘宝's rolling window). Bad input is `BadInput`."""
    tz = ZoneInfo(tz_name or "Asia/Shanghai")
    last = _day("until", until) if until else now.astimezone(tz).date()
    first = _day("since", since) if since else last - timedelta(days=29)
    if first > last:
        raise BadInput(f"--since {first} is after --until {last}")
    if (last - first).days + 1 > MAX_DAYS:
        raise BadInput(f"a period of at most {MAX_DAYS} days; ask for a shorter one")
    start = datetime.combine(first, time(), tz)
    return start, datetime.combine(last + timedelta(days=1), time(), tz)


def _day(name: str, text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise BadInput(f"{name} {text!r}: not a date, write it as YYYY-MM-DD") from None


async def compute_for_dates(
    session: AsyncSession, shop_id: str, since: str | None, until: str | None, now: datetime
) -> KpiReport:
    """`compute` for two days of the shop's calendar (see `period`)."""
    shop = await ShopRepository(session).get(shop_id)
    if shop is None:
        raise NotFound(f"shop {shop_id!r} not found; `xiaoer shops` lists the shops")
    start, end = period(shop.timezone, since, until, now)
    return await compute(session, shop_id, start, end)


async def load_conversations(
    session: AsyncSession, shop_id: str, since: datetime, until: datetime
) -> list[Conversation]:
    """The conversations with a message or a handoff in the period, with all their messages,
    handoffs and actions. Every query is filtered by the shop (the store's rule); they live
    here until the repositories gain read models for reports."""
    talked = select(MessageRow.conversation_id).where(
        MessageRow.shop_id == shop_id, MessageRow.created_at >= since, MessageRow.created_at < until
    )
    handed = select(HandoffRow.conversation_id).where(
        HandoffRow.shop_id == shop_id, HandoffRow.created_at >= since, HandoffRow.created_at < until
    )
    rated = select(RatingRow.conversation_id).where(
        RatingRow.shop_id == shop_id, RatingRow.rated_at >= since, RatingRow.rated_at < until
    )

    def ours(column: Any) -> Any:
        return or_(column.in_(talked), column.in_(handed), column.in_(rated))

    messages: defaultdict[str, list[MessageRow]] = defaultdict(list)
    stmt: Select[Any] = select(MessageRow).where(
        MessageRow.shop_id == shop_id, ours(MessageRow.conversation_id)
    )
    for m in await session.scalars(stmt.order_by(MessageRow.id)):
        messages[m.conversation_id].append(m)
    handoffs: defaultdict[str, list[HandoffRow]] = defaultdict(list)
    stmt = select(HandoffRow).where(HandoffRow.shop_id == shop_id, ours(HandoffRow.conversation_id))
    for h in await session.scalars(stmt.order_by(HandoffRow.created_at, HandoffRow.id)):
        handoffs[h.conversation_id].append(h)
    acted = select(ActionRow.id).where(
        ActionRow.shop_id == shop_id, ours(ActionRow.conversation_id)
    )
    kept = set(
        await session.scalars(
            select(ServiceRecordRow.key).where(
                ServiceRecordRow.shop_id == shop_id, ServiceRecordRow.key.in_(acted)
            )
        )
    )
    actions: defaultdict[str, list[tuple[str, bool]]] = defaultdict(list)
    rows = await session.execute(
        select(ActionRow.conversation_id, ActionRow.id, ActionRow.status).where(
            ActionRow.shop_id == shop_id, ours(ActionRow.conversation_id)
        )
    )
    for conversation_id, action_id, status in rows:
        actions[conversation_id].append((status, action_id in kept))
    ratings = {
        r.conversation_id: (r.score, r.rated_at)
        for r in await session.scalars(
            select(RatingRow).where(RatingRow.shop_id == shop_id, ours(RatingRow.conversation_id))
        )
    }
    ids = sorted(set(messages) | set(handoffs))
    return [Conversation(i, messages[i], handoffs[i], actions[i], ratings.get(i)) for i in ids]
