"""Conversations as the merchant console reads them: a searchable list with each
conversation's outcome, one conversation's transcript with why the bot said what it said (tool
calls, guard verdicts, citations and actions beside each message), and the handoff queue.

Outcomes (one per conversation, the first that holds): `handed_over` 转人工 (a handoff, any
status), `resolved` 已办理 (an action executed), `answered` 已答复 (the last buyer message has
an answer), `unanswered` 未答复. Read-only; every query goes through a shop-filtered
repository.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from xiaoer.agent.handoff import REASONS
from xiaoer.domain.errors import BadInput, NotFound
from xiaoer.domain.money import yuan
from xiaoer.store.models import ActionRow, ConversationRow, HandoffRow, MessageRow, RatingRow
from xiaoer.store.repositories import (
    ActionRepository,
    ConversationRepository,
    HandoffRepository,
)

__all__ = [
    "OUTCOMES",
    "RATED",
    "ConversationItem",
    "QueueItem",
    "Rating",
    "Transcript",
    "TranscriptMessage",
    "listed",
    "queue",
    "rate",
    "rating",
    "transcript",
]

OUTCOMES: dict[str, tuple[str, str]] = {
    "handed_over": ("转人工", "handed over"),
    "resolved": ("已办理", "resolved"),
    "answered": ("已答复", "answered"),
    "unanswered": ("未答复", "unanswered"),
}
"""Each outcome's Chinese and English label."""
RATED: dict[str, tuple[str, str, tuple[int | None, ...]]] = {
    "low": ("差评（1–2 分）", "low (1–2)", (1, 2)),
    "high": ("好评（4–5 分）", "high (4–5)", (4, 5)),
    "any": ("已评价", "rated", (1, 2, 3, 4, 5)),
    "none": ("未评价", "not rated", (None,)),
}
"""The list's rating filters: Chinese and English labels, and the scores each keeps."""
SCAN = 500
"""How many of the most recent conversations a filtered list looks through."""
ANSWERS = ("assistant", "agent")


@dataclass(frozen=True, slots=True)
class ConversationItem:
    id: str
    shopper_id: str
    channel: str
    mode: str
    updated_at: datetime
    messages: int
    last_text: str
    outcome: str
    handoff_reasons: tuple[str, ...]
    rating: int | None = None
    """The shopper's score, 1–5, if they rated it."""


@dataclass(frozen=True, slots=True)
class TranscriptMessage:
    id: int
    role: str
    text: str
    at: datetime
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    guard: list[dict[str, Any]] = field(default_factory=list)
    citations: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    """For a bot reply: latency_ms, tokens_in, tokens_out, llm_calls, model (when recorded)."""
    note: str = ""
    """A notice, a review outcome or the human agent's name."""


@dataclass(frozen=True, slots=True)
class Rating:
    conversation_id: str
    score: int
    comment: str
    rated_at: datetime

    @classmethod
    def of(cls, row: RatingRow) -> Rating:
        return cls(row.conversation_id, row.score, row.comment, row.rated_at)

    def as_dict(self) -> dict[str, Any]:
        return {
            "conversation_id": self.conversation_id, "score": self.score,
            "comment": self.comment, "rated_at": self.rated_at.isoformat(),
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class Transcript:
    id: str
    shopper_id: str
    channel: str
    mode: str
    outcome: str
    messages: list[TranscriptMessage]
    handoffs: list[dict[str, Any]]
    other_actions: list[dict[str, Any]]
    """Actions not tied to a message of this transcript."""
    rating: Rating | None = None
    """The shopper's rating of the conversation, if they gave one."""


@dataclass(frozen=True, slots=True)
class QueueItem:
    handoff_id: str
    conversation_id: str
    shopper_id: str
    reason: str
    reason_text: str
    detail: str
    priority: int
    status: str
    agent: str
    waiting_minutes: int
    summary: dict[str, Any]


def _outcome(
    messages: list[MessageRow], handoffs: list[HandoffRow], actions: list[ActionRow]
) -> str:
    if handoffs:
        return "handed_over"
    if any(a.status == "executed" for a in actions):
        return "resolved"
    said = [m for m in messages if m.role in ("shopper", *ANSWERS)]
    return "answered" if said and said[-1].role in ANSWERS else "unanswered"


def _group[T: (MessageRow, HandoffRow, ActionRow)](rows: list[T]) -> dict[str, list[T]]:
    out: dict[str, list[T]] = {}
    for r in rows:
        out.setdefault(r.conversation_id, []).append(r)
    return out


async def listed(
    session: AsyncSession,
    shop_id: str,
    *,
    text: str | None = None,
    handoff: bool | None = None,
    outcome: str | None = None,
    rated: str | None = None,
    limit: int = 50,
) -> list[ConversationItem]:
    """The shop's conversations, most recently active first: those with `text` in a message
    (or the conversation or shopper id), with or without a handoff, with the outcome, and
    `rated` (`RATED`: low 1–2 差评, high 4–5 好评, any score, or none given)."""
    if outcome is not None and outcome not in OUTCOMES:
        raise BadInput(f"outcome {outcome!r}: one of {', '.join(OUTCOMES)}")
    if rated is not None and rated not in RATED:
        raise BadInput(f"rated {rated!r}: one of {', '.join(RATED)}")
    text = (text or "").strip()[:200] or None
    filtered = handoff is not None or outcome is not None or rated is not None
    rows = await ConversationRepository(session, shop_id).recent(
        text=text, limit=SCAN if filtered else limit
    )
    ids = [r.id for r in rows]
    messages = _group(await ConversationRepository(session, shop_id).messages_of(ids))
    handoffs = _group(await HandoffRepository(session, shop_id).of_conversations(ids))
    actions = _group(await ActionRepository(session, shop_id).of_conversations(ids))
    scores = await ConversationRepository(session, shop_id).scores_of(ids)
    out: list[ConversationItem] = []
    for r in rows:
        ms, hs, acts = messages.get(r.id, []), handoffs.get(r.id, []), actions.get(r.id, [])
        item = _item(r, ms, hs, acts, scores.get(r.id))
        if handoff is not None and bool(hs) != handoff:
            continue
        if outcome is not None and item.outcome != outcome:
            continue
        if rated is not None and item.rating not in RATED[rated][2]:
            continue
        out.append(item)
        if len(out) >= limit:
            break
    return out


def _item(
    row: ConversationRow,
    messages: list[MessageRow],
    handoffs: list[HandoffRow],
    actions: list[ActionRow],
    rating: int | None = None,
) -> ConversationItem:
    shown = [m for m in messages if m.role != "whisper"]
    return ConversationItem(
        id=row.id,
        shopper_id=row.shopper_id,
        channel=row.channel,
        mode=row.mode,
        updated_at=row.updated_at,
        messages=len(shown),
        last_text=shown[-1].content[:80] if shown else "",
        outcome=_outcome(messages, handoffs, actions),
        handoff_reasons=tuple(dict.fromkeys(h.reason for h in handoffs)),
        rating=rating,
    )


def _action(row: ActionRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "tool": row.tool,
        "status": row.status,
        "summary": row.summary,
        "amount": yuan(row.amount_fen),
        "arguments": dict(row.arguments),
        "policy_verdict": dict(row.policy_verdict),
        "policy_version": row.policy_version,
    }


def _handoff(row: HandoffRow, now: datetime) -> dict[str, Any]:
    return {
        "id": row.id,
        "reason": row.reason,
        "reason_text": REASONS.get(row.reason, row.reason),
        "detail": row.detail,
        "status": row.status,
        "agent": row.agent,
        "created_at": row.created_at,
        "waiting_minutes": max(0, int((now - row.created_at).total_seconds() // 60)),
        "summary": dict(row.summary),
    }


_STATS = ("latency_ms", "tokens_in", "tokens_out", "llm_calls", "model")


async def transcript(
    session: AsyncSession, shop_id: str, conversation_id: str, now: datetime
) -> Transcript:
    """One conversation with what each message rests on. Unknown here is `NotFound`."""
    repo = ConversationRepository(session, shop_id)
    conversation = await repo.get(conversation_id)
    if conversation is None:
        raise NotFound(f"conversation {conversation_id!r} not found")
    rows = list(await repo.messages(conversation_id))
    calls: dict[int, list[dict[str, Any]]] = {}
    for c in await repo.tool_calls(conversation_id):
        calls.setdefault(c.message_id, []).append(
            {"name": c.name, "arguments": dict(c.arguments), "ok": c.ok, "result": c.result,
             "latency_ms": c.latency_ms}
        )  # fmt: skip
    action_rows = await ActionRepository(session, shop_id).of_conversations([conversation_id])
    handoff_rows = await HandoffRepository(session, shop_id).of_conversations([conversation_id])
    ids = {m.id for m in rows}
    by_message: dict[int, list[dict[str, Any]]] = {}
    others: list[dict[str, Any]] = []
    for a in action_rows:
        if a.proposed_message_id in ids:
            by_message.setdefault(a.proposed_message_id or 0, []).append(_action(a))
        else:
            others.append(_action(a))
    messages = [
        TranscriptMessage(
            id=m.id,
            role=m.role,
            text=m.content,
            at=m.created_at,
            tool_calls=calls.get(m.id, []),
            guard=list(m.meta.get("guard") or []),
            citations=list(m.meta.get("citations") or []),
            actions=by_message.get(m.id, []),
            stats={k: m.meta[k] for k in _STATS if m.meta.get(k) not in (None, "")},
            note=_note(m),
        )
        for m in rows
    ]
    return Transcript(
        id=conversation.id,
        shopper_id=conversation.shopper_id,
        channel=conversation.channel,
        mode=conversation.mode,
        outcome=_outcome(rows, handoff_rows, action_rows),
        messages=messages,
        handoffs=[_handoff(h, now) for h in handoff_rows],
        other_actions=others,
        rating=await rating(session, shop_id, conversation_id),
    )


def _note(m: MessageRow) -> str:
    meta = m.meta
    if meta.get("notice"):
        return "等待人工的提示 / notice while waiting for a human"
    if meta.get("review"):
        return f"审批 / review: {meta['review']}"
    if m.role == "agent" and meta.get("agent"):
        return str(meta["agent"])
    if m.role == "whisper" and meta.get("by"):
        return str(meta["by"])
    return ""


async def queue(session: AsyncSession, shop_id: str, now: datetime) -> list[QueueItem]:
    """Handoffs waiting for or held by a human, in queue order (most urgent, then oldest)."""
    rows = await HandoffRepository(session, shop_id).listed(("queued", "taken"))
    return [
        QueueItem(
            handoff_id=r.id,
            conversation_id=r.conversation_id,
            shopper_id=r.shopper_id,
            reason=r.reason,
            reason_text=REASONS.get(r.reason, r.reason),
            detail=r.detail,
            priority=r.priority,
            status=r.status,
            agent=r.agent,
            waiting_minutes=max(0, int((now - r.created_at).total_seconds() // 60)),
            summary=dict(r.summary),
        )
        for r in rows
    ]


SCORES = range(1, 6)
"""A rating's scores: 1 非常不满意 … 5 非常满意; 4 and 5 count as satisfied (满意)."""


async def rate(
    sessions: async_sessionmaker[AsyncSession],
    shop_id: str,
    shopper_id: str,
    conversation_id: str,
    score: int,
    comment: str,
    now: datetime,
) -> Rating:
    """The shopper rates their own conversation (a conversation that has no answer yet cannot
    be rated); rating again replaces the score. Two ratings at once keep the later one."""
    if score not in SCORES:
        raise BadInput(f"score {score}: a rating is 1 to 5")

    async def once() -> Rating:
        async with sessions() as s:
            repo = ConversationRepository(s, shop_id)
            conversation = await repo.get(conversation_id)
            if conversation is None or conversation.shopper_id != shopper_id:
                raise NotFound(f"conversation {conversation_id!r} not found")
            if not any(m.role in ANSWERS for m in await repo.messages(conversation_id)):
                raise BadInput("nothing to rate yet: the conversation has no answer")
            row = await repo.rate(conversation, score, comment.strip(), now)
            await s.commit()
            return Rating.of(row)

    try:
        return await once()
    except IntegrityError:  # the first rating raced in from another request: replace it
        return await once()


async def rating(session: AsyncSession, shop_id: str, conversation_id: str) -> Rating | None:
    row = await ConversationRepository(session, shop_id).rating(conversation_id)
    return None if row is None else Rating.of(row)
