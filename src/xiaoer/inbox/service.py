"""The inbox: one object per runtime, used by the CLI and the API alike."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from xiaoer.agent.actions import Outcome
from xiaoer.agent.handoff import as_view
from xiaoer.agent.turn import Assistant
from xiaoer.domain.errors import BadInput, Conflict, NotFound
from xiaoer.knowledge import KnowledgeBase
from xiaoer.store.models import ConversationRow
from xiaoer.store.repositories import ConversationRepository, HandoffRepository

TEXT_CHARS = 2000
WHISPER_CHARS = 300
STATUSES = ("queued", "taken", "closed")
INBOX_SOURCE = "inbox-replies"
"""The knowledge source the human agents' replies are mined under."""


class Inbox:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        assistant: Assistant,
        clock: Callable[[], datetime],
        knowledge: KnowledgeBase | None = None,
    ) -> None:
        self.sessions = sessions
        self.assistant = assistant
        self.clock = clock
        self.knowledge = knowledge

    async def queue(
        self, shop_id: str, statuses: Sequence[str] = ("queued", "taken")
    ) -> list[dict[str, Any]]:
        """Handoffs in queue order (most urgent, then oldest, first) with their summaries."""
        bad = [s for s in statuses if s not in STATUSES]
        if bad:
            raise BadInput(f"unknown status {bad[0]!r}; use one of {', '.join(STATUSES)}")
        async with self.sessions() as s:
            rows = await HandoffRepository(s, shop_id).listed(list(statuses))
        now = self.clock()
        return [as_view(r, now) for r in rows]

    async def conversation(self, shop_id: str, conversation_id: str) -> dict[str, Any]:
        """Everything a human needs: the messages (whispers marked), the open handoff, and the
        actions with their status."""
        async with self.sessions() as s:
            conversation = await self._conversation(s, shop_id, conversation_id)
            rows = await ConversationRepository(s, shop_id).messages(conversation_id)
            handoff = await HandoffRepository(s, shop_id).open_for(conversation_id)
        actions = await self.assistant.action_views(shop_id, conversation_id)
        return {
            "conversation_id": conversation_id,
            "shopper_id": conversation.shopper_id,
            "mode": conversation.mode,
            "handoff": as_view(handoff, self.clock()) if handoff else None,
            "messages": [
                {
                    "id": m.id,
                    "role": m.role,
                    "content": m.content,
                    "at": m.created_at.isoformat(),
                    "guard": m.meta.get("guard", []),
                    "agent": m.meta.get("agent", ""),
                }  # fmt: skip
                for m in rows
            ],
            "actions": [a.as_dict() for a in actions],
        }

    async def takeover(self, shop_id: str, conversation_id: str, agent: str) -> dict[str, Any]:
        """A human takes the conversation: the AI stays silent until it is released."""
        agent = _name(agent)
        now = self.clock()
        async with self.sessions() as s:
            conversation = await self._conversation(s, shop_id, conversation_id)
            handoffs = HandoffRepository(s, shop_id)
            row = await handoffs.open_for(conversation_id)
            if row is None:
                row = await handoffs.open(
                    conversation_id,
                    conversation.shopper_id,
                    "takeover",
                    detail=f"{agent} 主动接管",
                    priority=2,
                    summary={},
                    now=now,
                )
            if row.status == "taken" and row.agent and row.agent != agent:
                raise Conflict(f"{row.agent} already has this conversation")
            row.status, row.agent, row.taken_at = "taken", agent, row.taken_at or now
            conversation.mode = "human"
            await s.commit()
            return as_view(row, now)

    async def reply(
        self, shop_id: str, conversation_id: str, text: str, agent: str
    ) -> dict[str, Any]:
        """A human agent's message to the shopper. A queued conversation is taken by them."""
        text = _text(text, TEXT_CHARS)
        agent = _name(agent)
        async with self.sessions() as s:
            conversation = await self._conversation(s, shop_id, conversation_id)
            mode = conversation.mode
        if mode == "ai":
            raise Conflict("the AI has this conversation; take it over first (`inbox takeover`)")
        if mode == "queued":
            await self.takeover(shop_id, conversation_id, agent)
        async with self.sessions() as s:
            row = await ConversationRepository(s, shop_id).add_message(
                conversation_id, "agent", text, self.clock(), meta={"agent": agent}
            )
            await s.commit()
            return {"message_id": row.id, "conversation_id": conversation_id, "agent": agent}

    async def whisper(
        self, shop_id: str, conversation_id: str, text: str, by: str = "merchant"
    ) -> dict[str, Any]:
        """An instruction the AI follows from its next turn on; the shopper never sees it."""
        text = _text(text, WHISPER_CHARS)
        async with self.sessions() as s:
            await self._conversation(s, shop_id, conversation_id)
            row = await ConversationRepository(s, shop_id).add_message(
                conversation_id, "whisper", text, self.clock(), meta={"by": _name(by)}
            )
            await s.commit()
            return {"message_id": row.id, "conversation_id": conversation_id}

    async def release(self, shop_id: str, conversation_id: str) -> dict[str, Any]:
        """Back to the AI; the human's replies stay in the conversation as context."""
        now = self.clock()
        async with self.sessions() as s:
            conversation = await self._conversation(s, shop_id, conversation_id)
            row = await HandoffRepository(s, shop_id).open_for(conversation_id)
            if row is None and conversation.mode == "ai":
                raise Conflict("this conversation is already with the AI")
            if row is not None:
                row.status, row.closed_at = "closed", now
            conversation.mode = "ai"
            await s.commit()
            return {"conversation_id": conversation_id, "mode": "ai",
                    "handoff": as_view(row, now) if row else None}  # fmt: skip

    async def review(
        self, shop_id: str, action_id: str, *, approve: bool, note: str = ""
    ) -> Outcome:
        return await self.assistant.review(shop_id, action_id, approve=approve, note=note)

    async def suggest(self, shop_id: str, conversation_id: str) -> dict[str, Any]:
        """A reply for the human to send or edit, grounded like the bot's own."""
        async with self.sessions() as s:
            await self._conversation(s, shop_id, conversation_id)
        return await self.assistant.suggest(shop_id, conversation_id)

    async def learn(self, shop_id: str) -> dict[str, Any]:
        """Mine the human agents' replies for FAQ candidates (they wait for the merchant's
        review like the ones mined from imported chats)."""
        if self.knowledge is None:
            raise BadInput("no knowledge base configured")
        async with self.sessions() as s:
            repo = ConversationRepository(s, shop_id)
            chats = []
            for cid in await repo.with_role("agent"):
                rows = await repo.messages(cid)
                said = [{"role": m.role, "text": m.content} for m in rows
                        if m.role in ("shopper", "agent")]  # fmt: skip
                chats.append({"id": cid, "messages": said})
        if not chats:
            return {"conversations": 0, "status": "nothing to learn", "candidates": 0}
        report, _ = await self.knowledge.ingest_chats(shop_id, INBOX_SOURCE, chats)
        return {"conversations": len(chats), "status": report.status,
                "candidates": int(report.extra.get("candidates", 0))}  # fmt: skip

    async def _conversation(
        self, s: AsyncSession, shop_id: str, conversation_id: str
    ) -> ConversationRow:
        conversation = await ConversationRepository(s, shop_id).get(conversation_id)
        if conversation is None:
            raise NotFound(f"conversation {conversation_id!r} not found in shop {shop_id!r}")
        return conversation


def _text(text: str, limit: int) -> str:
    text = (text or "").replace("\x00", "").strip()
    if not text:
        raise BadInput("the message is empty")
    if len(text) > limit:
        raise BadInput(f"the message is {len(text)} characters; the limit is {limit}")
    return text


def _name(agent: str) -> str:
    agent = (agent or "").strip()
    if not agent or len(agent) > 64:
        raise BadInput("name the human agent (1–64 characters), e.g. --agent 小王")
    return agent
