"""The KPI rules as pure functions over a period's stored conversations (no I/O).

`services/kpis.py` documents each figure and loads the rows; this module turns the rows into
rounds, consults and human-reply units, and counts them. See docs/kpis.md for the rules.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Literal
from zoneinfo import ZoneInfo

from xiaoer.store.models import HandoffRow, MessageRow

type Unit = Literal["rate", "seconds", "ms", "tokens", "count"]

TAOBAO_WITHIN = 180.0
"""淘宝: a round answered within 3 minutes of the buyer's first question."""
JD_WITHIN = 30.0
"""京东: a consult answered within 30 seconds."""
DOUYIN_WITHIN = 180.0
"""抖店: a buyer message a human replied to within 3 minutes."""
WAIT_CAP = 600.0
"""淘宝 caps each wait at 10 minutes in its average response time; so does ours."""
_HOURS = re.compile(r"(\d{1,2}):(\d{2})\s*[-~至到]\s*(\d{1,2}):(\d{2})")


@dataclass(frozen=True, slots=True)
class Hours:
    """A daily clock window [start, end) in the shop's timezone; overnight when end < start,
    all day when start == end."""

    start: time
    end: time

    def holds(self, local: time) -> bool:
        if self.start == self.end:
            return True
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def __str__(self) -> str:
        end = "24:00" if self.end == time(0) else f"{self.end:%H:%M}"
        return f"{self.start:%H:%M}-{end}"


ALL_DAY = Hours(time(0), time(0))
TAOBAO_HOURS = Hours(time(8), time(23))
JD_HOURS = Hours(time(9), time(23))
DOUYIN_HOURS = Hours(time(8), time(23))


def shop_hours(text: str) -> Hours:
    """The shop's `working_hours` (`09:00-22:00`; `24:00` is midnight); all day when unset or
    unreadable, as `agent/handoff.open_now` reads it."""
    m = _HOURS.search(text or "")
    if m is None:
        return ALL_DAY
    return Hours(time(int(m[1]) % 24, int(m[2])), time(int(m[3]) % 24, int(m[4])))


@dataclass(frozen=True, slots=True)
class Wait:
    """A buyer waiting for an answer: from `start` until the first answer (`seconds`, None
    when none came), by a human or by the bot."""

    start: datetime
    seconds: float | None
    human: bool = False


@dataclass(frozen=True, slots=True)
class Conversation:
    """One conversation's stored rows, as the rules read them."""

    id: str
    messages: Sequence[MessageRow]
    """Oldest first (by id: rows are append-only)."""
    handoffs: Sequence[HandoffRow] = ()
    actions: Sequence[tuple[str, bool]] = ()
    """Each action's status and whether its effect is in the after-sales ledger."""
    rating: tuple[int, datetime] | None = None
    """The shopper's score (1–5) and when it was given."""
    rounds: list[Wait] = field(init=False)
    human_waits: list[Wait] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rounds", rounds(self.messages))
        object.__setattr__(self, "human_waits", human_waits(self.messages, self.handoffs))


def is_answer(m: MessageRow) -> bool:
    """A message that answers the buyer: a human agent's, or the bot's reply to a message.
    The notice sent while a conversation waits for a human (`meta.notice`) only says a human
    will answer, and a review outcome (no `reply_to`) answers no question: neither counts."""
    return m.role == "agent" or is_bot_turn(m)


def is_bot_turn(m: MessageRow) -> bool:
    """The bot's reply to a buyer message (what its latency and tokens are counted over)."""
    return m.role == "assistant" and m.reply_to is not None and "notice" not in m.meta


def rounds(messages: Sequence[MessageRow]) -> list[Wait]:
    """Rounds (轮次): each runs from a buyer message that nobody is answering yet to the
    first answer; further buyer messages before it belong to the same round."""
    out: list[Wait] = []
    start: datetime | None = None
    for m in messages:
        if m.role == "shopper" and start is None:
            start = m.created_at
        elif start is not None and is_answer(m):
            out.append(Wait(start, (m.created_at - start).total_seconds(), m.role == "agent"))
            start = None
    if start is not None:
        out.append(Wait(start, None))
    return out


def human_waits(messages: Sequence[MessageRow], handoffs: Sequence[HandoffRow]) -> list[Wait]:
    """What a human owed the buyer in each handoff: the handed-over message (clock from the
    handoff; none for a takeover a human started) and every buyer message while the handoff
    was open, each until the first human message at or after it, before the handoff closed."""
    out: list[Wait] = []
    agents = [m.created_at for m in messages if m.role == "agent"]
    for h in handoffs:
        end = h.closed_at
        starts = [] if h.reason == "takeover" else [h.created_at]
        starts += [
            m.created_at
            for m in messages
            if m.role == "shopper"
            and m.created_at > h.created_at
            and (end is None or m.created_at < end)
        ]
        for start in starts:
            reply = next((a for a in agents if a >= start and (end is None or a <= end)), None)
            seconds = None if reply is None else (reply - start).total_seconds()
            out.append(Wait(start, seconds, human=True))
    return out


@dataclass(frozen=True, slots=True)
class Figure:
    """One KPI: its value (a rate in 0..1, seconds, ms, tokens or a count), what it was
    counted from, and why it is None when it is."""

    key: str
    value: float | None
    unit: Unit
    hits: int | None = None
    """For a rate: the units that met the rule."""
    total: int | None = None
    """For a rate or an average: the units counted."""
    reason: str = ""
    """Why `value` is None (no units in the period, or no data source at all)."""


SATISFIED = 4
"""A rating of 4 or 5 (满意、非常满意) counts as satisfied, as the platforms count 满意率."""
NO_CONVERSION = (
    "没有数据来源：订单只来自导入的店铺包，聊天后的下单不会记录 / no data source: the store's "
    "orders come from the imported bundle; no order feed records an order placed after a chat"
)


def _rate(key: str, hits: int, total: int, empty: str) -> Figure:
    if total == 0:
        return Figure(key, None, "rate", hits, total, f"期间没有{empty}")
    return Figure(key, hits / total, "rate", hits, total)


def _mean(key: str, values: Sequence[float], unit: Unit, empty: str) -> Figure:
    if not values:
        return Figure(key, None, unit, total=0, reason=f"期间没有{empty}")
    return Figure(key, sum(values) / len(values), unit, total=len(values))


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p% of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def _within(waits: Sequence[Wait], limit: float) -> int:
    return sum(1 for w in waits if w.seconds is not None and w.seconds <= limit)


@dataclass(frozen=True, slots=True)
class Period:
    """[since, until) and the clocks the rules read it with."""

    since: datetime
    until: datetime
    tz: ZoneInfo
    hours: Hours
    """The shop's working hours."""

    def holds(self, t: datetime) -> bool:
        return self.since <= t < self.until

    def local(self, t: datetime) -> time:
        return t.astimezone(self.tz).time()


def figures(
    conversations: Sequence[Conversation], period: Period
) -> tuple[list[Figure], dict[str, int]]:
    """Every figure for the period, and the handoffs started in it counted by reason."""
    firsts = [c for c in conversations if c.rounds and period.holds(c.rounds[0].start)]
    reasons = Counter(
        h.reason for c in conversations for h in c.handoffs if period.holds(h.created_at)
    )
    out = [
        Figure("conversations", len(firsts), "count"),
        *_platform_figures(conversations, firsts, period),
        *_own_figures(conversations, firsts, period),
    ]
    return out, dict(reasons.most_common())


def _platform_figures(
    conversations: Sequence[Conversation], firsts: Sequence[Conversation], p: Period
) -> list[Figure]:
    rounds = [r for c in conversations for r in c.rounds if p.holds(r.start)]
    taobao = [r for r in rounds if TAOBAO_HOURS.holds(p.local(r.start))]
    consults = [c.rounds[0] for c in firsts]
    offline = [
        not JD_HOURS.holds(p.local(r.start))
        or (r.seconds is None and not p.hours.holds(p.local(r.start)))
        for r in consults
    ]
    online = [r for r, off in zip(consults, offline, strict=True) if not off]
    waits = [w for c in conversations for w in c.human_waits if p.holds(w.start)]
    douyin = [w for w in waits if DOUYIN_HOURS.holds(p.local(w.start))]
    answered = [min(r.seconds, WAIT_CAP) for r in rounds if r.seconds is not None]
    return [
        Figure("rounds", len(rounds), "count"),
        _rate("taobao_3min_response_rate", _within(taobao, TAOBAO_WITHIN), len(taobao),
              " 08:00–23:00 开始的咨询轮次 / no round began 08:00–23:00"),
        _rate("jd_30s_answer_rate", _within(online, JD_WITHIN), len(online),
              " 09:00–23:00 的在线咨询 / no online consult 09:00–23:00"),
        _rate("jd_message_left_rate", sum(offline), len(consults), "咨询 / no consult"),
        _rate("douyin_3min_human_reply_rate", _within(douyin, DOUYIN_WITHIN), len(douyin),
              " 08:00–23:00 转人工后的顾客消息 / no message handed to a human 08:00–23:00"),
        _mean("avg_response_seconds", answered, "seconds", "得到回复的轮次 / no answered round"),
        _mean("human_avg_reply_seconds", [w.seconds for w in waits if w.seconds is not None],
              "seconds", "人工回复 / no human reply after a handoff"),
    ]  # fmt: skip


def _own_figures(
    conversations: Sequence[Conversation], firsts: Sequence[Conversation], p: Period
) -> list[Figure]:
    handed = [c for c in firsts if c.handoffs]
    by_bot = [c for c in firsts if not c.handoffs and any(is_bot_turn(m) for m in c.messages)]
    acted = [c for c in firsts if c.actions]
    verified = [c for c in acted if any(s == "executed" and kept for s, kept in c.actions)]
    turns = [
        m for c in conversations for m in c.messages if is_bot_turn(m) and p.holds(m.created_at)
    ]
    scores = [c.rating[0] for c in conversations if c.rating and p.holds(c.rating[1])]
    latencies = _recorded(turns, "latency_ms")
    no_turn = "记录了用量的机器人回复 / no bot turn with its usage recorded"
    return [
        _rate("answered_without_handoff_rate", len(by_bot), len(firsts), "会话 / no conversation"),
        _rate("handoff_rate", len(handed), len(firsts), "会话 / no conversation"),
        _rate("resolution_verified_rate", len(verified), len(acted),
              "提出过操作的会话 / no conversation with a proposed action"),
        _rate("csat", sum(score >= SATISFIED for score in scores), len(scores),
              "顾客评价 / no rating given"),
        Figure("presales_conversion_rate", None, "rate", reason=NO_CONVERSION),
        _percentile("latency_p50_ms", latencies, 50),
        _percentile("latency_p95_ms", latencies, 95),
        _mean("tokens_in_per_turn", _recorded(turns, "tokens_in"), "tokens", no_turn),
        _mean("tokens_out_per_turn", _recorded(turns, "tokens_out"), "tokens", no_turn),
    ]  # fmt: skip


def _recorded(turns: Sequence[MessageRow], key: str) -> list[float]:
    """The turns' `meta[key]`, where the turn recorded it (rows from before it was kept have
    none, and are left out rather than read as 0)."""
    values = (m.meta.get(key) for m in turns)
    return [float(v) for v in values if isinstance(v, int) and not isinstance(v, bool)]


def _percentile(key: str, values: Sequence[float], p: float) -> Figure:
    if not values:
        return Figure(
            key, None, "ms", total=0, reason="期间没有记录耗时的机器人回复 / no timed bot turn"
        )
    return Figure(key, percentile(values, p), "ms", total=len(values))
