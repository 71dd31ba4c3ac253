"""The shop's knowledge as the console reviews it: the chat-mined FAQ candidates that wait for
the merchant (each with an excerpt of the chat it came from) and the merchant's facts with
their expiry. Approving, rejecting and adding go through `KnowledgeBase` (`approve`, `reject`,
`add_fact`), the same calls the `/v1/knowledge` API makes; this module only reads, plus
`fact_expiry`, which turns the console's date field into the instant a fact stops counting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.domain.errors import BadInput, NotFound
from xiaoer.store.repositories import (
    ConversationRepository,
    KnowledgeRepository,
    ShopRepository,
)

__all__ = [
    "ANSWER_CHARS",
    "EXCERPT_LINES",
    "QUESTION_CHARS",
    "Candidate",
    "Fact",
    "fact_expiry",
    "facts",
    "pending",
]

ANSWER_CHARS, QUESTION_CHARS = 2000, 500
"""The longest answer and question a reviewer may write when approving an edited candidate
(the API's `ApproveIn` and the console's form)."""

EXCERPT_LINES = 6
"""How many lines of the source chat a candidate shows."""
_SAID = ("shopper", "agent", "customer", "user")


@dataclass(frozen=True, slots=True)
class Candidate:
    id: str
    question: str
    variants: list[str]
    answer: str
    score: float
    chat_ids: list[str]
    excerpt: list[tuple[str, str]]
    """(role, text) lines of the first source chat still on record; empty if none is."""


@dataclass(frozen=True, slots=True)
class Fact:
    id: str
    text: str
    expires_at: datetime | None
    expired: bool


async def pending(session: AsyncSession, shop_id: str) -> list[Candidate]:
    """The candidates waiting for review, best first, each with its source chat excerpt."""
    repo = KnowledgeRepository(session, shop_id)
    rows = await repo.candidates("pending")
    wanted = {str(i) for r in rows for i in r.chat_ids[:1]}
    kept = {t.id: t for t in await repo.transcripts(sorted(wanted))}
    out: list[Candidate] = []
    for r in rows:
        first = str(r.chat_ids[0]) if r.chat_ids else ""
        if first in kept:
            lines = [(str(m.get("role", "")), str(m.get("text", ""))) for m in kept[first].messages]
        elif first:  # mined from the human agents' replies: the chat is a conversation
            said = await ConversationRepository(session, shop_id).messages(first)
            lines = [(m.role, m.content) for m in said if m.role in _SAID]
        else:
            lines = []
        out.append(
            Candidate(
                r.id,
                r.question,
                [str(v) for v in r.variants],
                r.answer,
                r.score,
                [str(i) for i in r.chat_ids],
                lines[:EXCERPT_LINES],
            )  # fmt: skip
        )
    return out


async def facts(session: AsyncSession, shop_id: str, now: datetime) -> list[Fact]:
    """The merchant's facts, newest expiry last; an expired one is kept but marked."""
    rows = [c for c in await KnowledgeRepository(session, shop_id).chunks() if c.kind == "fact"]
    rows.sort(key=lambda c: (c.expires_at is None, c.expires_at or now, c.id))
    return [
        Fact(c.id, c.text, c.expires_at, c.expires_at is not None and c.expires_at <= now)
        for c in rows
    ]


async def fact_expiry(
    session: AsyncSession, shop_id: str, day: str, now: datetime
) -> datetime | None:
    """A fact given until `day` (YYYY-MM-DD, "" for no expiry) stops counting at the end of
    that day in the shop's timezone; a day already over is refused."""
    day = day.strip()
    if not day:
        return None
    try:
        last = date.fromisoformat(day)
    except ValueError:
        raise BadInput(f"expiry date {day!r} is not a date (YYYY-MM-DD)") from None
    shop = await ShopRepository(session).get(shop_id)
    if shop is None:
        raise NotFound(f"shop {shop_id!r} not found")
    try:
        zone = ZoneInfo(shop.timezone or "Asia/Shanghai")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("Asia/Shanghai")
    expires = datetime.combine(last + timedelta(days=1), time(), tzinfo=zone)
    if expires <= now:
        raise BadInput(f"expiry date {day} is already over")
    return expires
