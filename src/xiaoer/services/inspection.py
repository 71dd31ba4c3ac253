"""质检 (quality inspection): every conversation of a period, human or AI, read for the patterns
of 消极服务 (negative service) that platforms penalise, each finding with its evidence line,
and the merchant's verdict on it (the review queue).

| pattern | 名称 | what counts |
|---|---|---|
| `unanswered` | 未回复 | a shopper message that no reply (bot or human) ever followed, older than 3 minutes |
| `slow` | 回复超时 | a reply that came more than 180 s after the shopper began waiting (淘宝's 3 minutes) |
| `stalling` | 拖延敷衍 | a reply that only promises a look or a wait ("稍等，我帮您查一下"), with nothing after it before the shopper's next message |
| `arguing` | 顶撞推诿 | a reply that blames or brushes off the shopper (`ARGUING`: generic service language, not any shop's words) |
| `overpromise` | 超范围承诺 | a reply saying a change is done (已为您取消/退款…) while no action of the conversation was executed by then |
| `wrong_policy` | 违反规则 | an action the shop's policy blocked when it was to be executed: the shopper was offered what the rules do not allow |

The findings are computed from the stored conversation each time (nothing to keep in step);
only the merchant's verdicts are stored (`InspectionReviewRow`, keyed by
`conversation:message:pattern`). A pattern's rate is the share of the period's conversations
with at least one finding of it.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.agent.instructions import claims_done, is_stalling
from xiaoer.domain.errors import BadInput, NotFound
from xiaoer.services.kpi_rules import Conversation
from xiaoer.services.kpis import load_conversations, period
from xiaoer.store.models import ActionRow, MessageRow
from xiaoer.store.repositories import (
    ConversationRepository,
    InspectionReviewRepository,
    ShopRepository,
)

__all__ = ["PATTERNS", "VERDICTS", "Finding", "Inspection", "inspect", "review"]

PATTERNS: dict[str, tuple[str, str]] = {
    "unanswered": ("未回复", "unanswered"),
    "slow": ("回复超时", "slow reply"),
    "stalling": ("拖延敷衍", "stalling"),
    "arguing": ("顶撞推诿", "arguing"),
    "overpromise": ("超范围承诺", "promise beyond the record"),
    "wrong_policy": ("违反规则", "against the policy"),
}
VERDICTS = ("confirmed", "dismissed")
REPLY_LIMIT_S = 180
"""淘宝's 3 minutes: a wait longer than this is slow, an unanswered message older than it is
unanswered."""
ARGUING = re.compile(
    r"你自己(没|不|看|的问题)|您自己(没|不)|不是我们的(问题|责任)|跟我们(没|无)关|(你|您)看清楚"
    r"|我(已经|都)(说|讲)(过|了)(很多|好几|多少)?遍?|说了多少遍|爱买不买|随便你|你爱(怎么|咋)"
    r"|没办法就是没办法|这是规定(，|,)?没得商量"
)
"""Blaming or brushing off the shopper, in general service language (no shop's words)."""
REPLIES = ("assistant", "agent")
EVIDENCE_CHARS = 160


@dataclass(frozen=True, slots=True)
class Finding:
    conversation_id: str
    pattern: str
    message_id: int
    at: datetime
    role: str
    """Whose line it is: `shopper` (left unanswered), `assistant` (the bot) or `agent` (a
    human); `action` for a blocked action."""
    evidence: str
    detail: str = ""
    verdict: str | None = None
    note: str = ""
    reviewer: str = ""

    @property
    def key(self) -> str:
        return f"{self.conversation_id}:{self.message_id}:{self.pattern}"


@dataclass(frozen=True, slots=True)
class Inspection:
    shop_id: str
    since: datetime
    until: datetime
    inspected: int
    """Conversations read (a message or a handoff in the period)."""
    findings: list[Finding]
    rates: dict[str, float | None]
    daily: list[tuple[date, dict[str, int]]] = field(default_factory=list)

    @property
    def open(self) -> list[Finding]:
        """The review queue: findings without a verdict, oldest first."""
        return [f for f in self.findings if f.verdict is None]


def _line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EVIDENCE_CHARS else text[: EVIDENCE_CHARS - 1] + "…"


def _findings(conv: Conversation, actions: list[ActionRow], now: datetime) -> list[Finding]:
    out: list[Finding] = []
    messages = [m for m in conv.messages if m.role in ("shopper", *REPLIES)]

    def add(pattern: str, m: MessageRow, detail: str = "") -> None:
        out.append(Finding(conv.id, pattern, m.id, m.created_at, m.role, _line(m.content), detail))

    waiting: MessageRow | None = None  # the first shopper message since the last reply
    for i, m in enumerate(messages):
        if m.role == "shopper":
            waiting = waiting or m
            continue
        if waiting is not None:
            wait = (m.created_at - waiting.created_at).total_seconds()
            if wait > REPLY_LIMIT_S:
                add("slow", m, f"{wait:.0f}s")
            waiting = None
        later = messages[i + 1] if i + 1 < len(messages) else None
        if is_stalling(m.content) and (later is None or later.role == "shopper"):
            add("stalling", m)
        if ARGUING.search(m.content):
            add("arguing", m)
        executed = any(a.status == "executed" and a.updated_at <= m.created_at for a in actions)
        if claims_done(m.content) and not executed:
            add("overpromise", m)
    if waiting is not None and (now - waiting.created_at).total_seconds() > REPLY_LIMIT_S:
        add("unanswered", waiting)
    for a in actions:
        if a.status == "blocked":
            why = str((a.policy_verdict or {}).get("reason", "")) if a.policy_verdict else ""
            out.append(
                Finding(
                    conv.id,
                    "wrong_policy",
                    a.proposed_message_id or 0,
                    a.updated_at,
                    "action",
                    _line(a.summary),
                    _line(why),
                )  # fmt: skip
            )
    return out


async def inspect(
    session: AsyncSession,
    shop_id: str,
    since: str | None,
    until: str | None,
    now: datetime,
    *,
    pattern: str | None = None,
) -> Inspection:
    """The period's findings (two days of the shop's calendar, both included; default the last
    30 days), with the merchant's verdicts, and each pattern's rate and daily count."""
    if pattern is not None and pattern not in PATTERNS:
        raise BadInput(f"unknown pattern {pattern!r}; one of {', '.join(PATTERNS)}")
    shop = await ShopRepository(session).get(shop_id)
    if shop is None:
        raise NotFound(f"shop {shop_id!r} not found")
    start, end = period(shop.timezone, since, until, now)
    conversations = await load_conversations(session, shop_id, start, end)
    ids = [c.id for c in conversations]
    actions: defaultdict[str, list[ActionRow]] = defaultdict(list)
    if ids:
        stmt = select(ActionRow).where(ActionRow.shop_id == shop_id,
                                       ActionRow.conversation_id.in_(ids))  # fmt: skip
        for a in await session.scalars(stmt):
            actions[a.conversation_id].append(a)
    reviews = await InspectionReviewRepository(session, shop_id).all()
    found: list[Finding] = []
    for conv in conversations:
        for f in _findings(conv, actions[conv.id], now):
            if not start <= f.at < end or (pattern is not None and f.pattern != pattern):
                continue
            r = reviews.get(f.key)
            if r is not None:
                f = Finding(f.conversation_id, f.pattern, f.message_id, f.at, f.role,
                            f.evidence, f.detail, r.verdict, r.note, r.reviewer)  # fmt: skip
            found.append(f)
    found.sort(key=lambda f: (f.at, f.conversation_id, f.message_id))
    counted = [f for f in found if f.verdict != "dismissed"]
    with_pattern = {p: {f.conversation_id for f in counted if f.pattern == p} for p in PATTERNS}
    rates = {p: (len(c) / len(conversations) if conversations else None)
             for p, c in with_pattern.items()}  # fmt: skip
    tz = ZoneInfo(shop.timezone or "Asia/Shanghai")
    per_day: defaultdict[date, Counter[str]] = defaultdict(Counter)
    for f in counted:
        per_day[f.at.astimezone(tz).date()][f.pattern] += 1
    daily = [(d, {p: per_day[d][p] for p in PATTERNS}) for d in sorted(per_day)]
    return Inspection(shop_id, start, end, len(conversations), found, rates, daily)


async def review(
    session: AsyncSession,
    shop_id: str,
    finding: str,
    verdict: str,
    note: str,
    reviewer: str,
    now: datetime,
) -> None:
    """Record the merchant's verdict on a finding (`conversation:message:pattern`); the caller
    commits. A dismissed finding no longer counts in the rates."""
    if verdict not in VERDICTS:
        raise BadInput(f"unknown verdict {verdict!r}; use confirmed or dismissed")
    parts = finding.split(":")
    if len(parts) != 3 or parts[2] not in PATTERNS or not parts[1].isdigit():
        raise BadInput(f"not a finding: {finding!r}")
    if len(note) > 500:
        raise BadInput("the note is at most 500 characters")
    if await ConversationRepository(session, shop_id).get(parts[0]) is None:
        raise NotFound(f"conversation {parts[0]!r} not found")
    await InspectionReviewRepository(session, shop_id).set(finding, verdict, note, reviewer, now)
