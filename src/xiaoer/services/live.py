"""What changed in a shop since a page was drawn: the newest message id and the open handoffs,
read from the database — so every API worker sees the same thing without a broker, and a
console page's event stream (`console/live.py`) can tell it to refresh."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.store.models import HandoffRow, MessageRow

__all__ = ["Mark", "mark", "touched"]


@dataclass(frozen=True, slots=True)
class Mark:
    """Where the shop stands: its newest message and the state of its open handoffs."""

    last_message_id: int
    handoffs: tuple[tuple[str, str, str], ...]
    """(conversation, status, agent) of every handoff not closed, sorted."""


async def mark(session: AsyncSession, shop_id: str) -> Mark:
    last = await session.scalar(
        select(func.max(MessageRow.id)).where(MessageRow.shop_id == shop_id)
    )
    rows = await session.execute(
        select(HandoffRow.conversation_id, HandoffRow.status, HandoffRow.agent).where(
            HandoffRow.shop_id == shop_id, HandoffRow.status != "closed"
        )
    )
    return Mark(int(last or 0), tuple(sorted((c, s, a or "") for c, s, a in rows)))


async def touched(session: AsyncSession, shop_id: str, after_message_id: int) -> list[str]:
    """The conversations with a message newer than `after_message_id` (whisper included)."""
    rows = await session.scalars(
        select(MessageRow.conversation_id)
        .where(MessageRow.shop_id == shop_id, MessageRow.id > after_message_id)
        .distinct()
    )
    return sorted(rows)
