"""Merchant and human-agent endpoints: the handoff queue, takeover, whisper, reply, release and
suggested replies (approvals are `/v1/actions/{id}/approve|reject`). Every route is scoped to
the merchant key's shop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import Field

from xiaoer.api.errors import ApiModel
from xiaoer.runtime import Runtime


class AgentIn(ApiModel):
    agent: str = Field(min_length=1, max_length=64, description="the human agent's name")


class ReplyIn(AgentIn):
    text: str = Field(min_length=1, max_length=2000)


class WhisperIn(ApiModel):
    text: str = Field(min_length=1, max_length=300, description="e.g. 这位是老顾客，运费我们出")
    by: str = Field(default="merchant", min_length=1, max_length=64)


def inbox_router(rt: Callable[[], Runtime], merchant: Callable[..., Any]) -> APIRouter:
    router = APIRouter(prefix="/v1/inbox", tags=["inbox"])
    shop_dep = Depends(merchant)

    @router.get("")
    async def queue(
        status: Annotated[str, Query(max_length=64)] = "queued,taken", shop_id: str = shop_dep
    ) -> dict[str, Any]:
        """Handoffs, most urgent then oldest first, each with the AI's summary."""
        statuses = [s.strip() for s in status.split(",") if s.strip()]
        return {"handoffs": await rt().inbox().queue(shop_id, statuses)}

    @router.get("/{conversation_id}")
    async def show(conversation_id: str, shop_id: str = shop_dep) -> dict[str, Any]:
        return await rt().inbox().conversation(shop_id, conversation_id)

    @router.post("/{conversation_id}/takeover")
    async def takeover(conversation_id: str, body: AgentIn, shop_id: str = shop_dep) -> Any:
        return await rt().inbox().takeover(shop_id, conversation_id, body.agent)

    @router.post("/{conversation_id}/reply", status_code=201)
    async def reply(conversation_id: str, body: ReplyIn, shop_id: str = shop_dep) -> Any:
        return await rt().inbox().reply(shop_id, conversation_id, body.text, body.agent)

    @router.post("/{conversation_id}/whisper", status_code=201)
    async def whisper(conversation_id: str, body: WhisperIn, shop_id: str = shop_dep) -> Any:
        return await rt().inbox().whisper(shop_id, conversation_id, body.text, body.by)

    @router.post("/{conversation_id}/release")
    async def release(conversation_id: str, shop_id: str = shop_dep) -> Any:
        return await rt().inbox().release(shop_id, conversation_id)

    @router.post("/{conversation_id}/suggest")
    async def suggest(conversation_id: str, shop_id: str = shop_dep) -> Any:
        """A reply for the human to send or edit, with its sources; nothing is sent."""
        return await rt().inbox().suggest(shop_id, conversation_id)

    return router
