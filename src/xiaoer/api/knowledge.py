"""Merchant endpoints for the shop's knowledge: search, sources, facts, text documents, and
review of chat-mined candidates. Every route is scoped to the merchant key's shop."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from xiaoer.domain.errors import BadInput
from xiaoer.knowledge import cite
from xiaoer.runtime import Runtime


class FactIn(BaseModel):
    text: str = Field(min_length=1, max_length=500, description="e.g. 本周六不发货")
    expires_at: datetime | None = Field(default=None, description="ISO time with an offset")


class DocumentIn(BaseModel):
    name: str = Field(min_length=1, max_length=120, description="file name, e.g. 保养指南.md")
    content: str = Field(min_length=1, max_length=2_000_000, description="Markdown, HTML or text")


class ApproveIn(BaseModel):
    answer: str | None = Field(default=None, max_length=2000, description="an edited answer")
    question: str | None = Field(default=None, max_length=500)


class RejectIn(BaseModel):
    note: str = Field(default="", max_length=500)


TEXT_SUFFIXES = (".md", ".markdown", ".txt", ".html", ".htm")


def knowledge_router(rt: Callable[[], Runtime], merchant: Callable[..., Any]) -> APIRouter:
    router = APIRouter(prefix="/v1/knowledge", tags=["knowledge"])
    shop_dep = Depends(merchant)

    @router.get("/search")
    async def search(
        q: str, k: int = 5, product_id: str | None = None, method: str = "hybrid",
        shop_id: str = shop_dep,
    ) -> dict[str, Any]:  # fmt: skip
        """The top snippets for a question, each with its source id."""
        hits = (
            await rt()
            .knowledge()
            .search(shop_id, q, k=max(1, min(k, 50)), method=method, product_id=product_id)
        )
        return {"citations": [cite(h).as_dict() for h in hits]}

    @router.get("/sources")
    async def sources(shop_id: str = shop_dep) -> dict[str, Any]:
        rows = await rt().knowledge().sources(shop_id)
        return {"sources": [
            {"id": r.id, "kind": r.kind, "name": r.name, "chunks": r.chunks,
             "ingested_at": r.ingested_at.isoformat()} for r in rows
        ]}  # fmt: skip

    @router.post("/facts", status_code=201)
    async def add_fact(body: FactIn, shop_id: str = shop_dep) -> dict[str, str]:
        """A merchant fact: outranks everything else until it expires."""
        return {
            "id": await rt().knowledge().add_fact(shop_id, body.text, expires_at=body.expires_at)
        }

    @router.post("/documents", status_code=201)
    async def add_document(body: DocumentIn, shop_id: str = shop_dep) -> dict[str, Any]:
        """A text document (Markdown, HTML or plain text); re-sending it unchanged does nothing."""
        name = Path(body.name).name
        if not name.lower().endswith(TEXT_SUFFIXES) or re.search(r"[\\x00-\\x1f]", name):
            raise BadInput(f"name must end in one of {', '.join(TEXT_SUFFIXES)}")
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / name
            path.write_text(body.content, encoding="utf-8")
            report = await rt().knowledge().ingest_document(shop_id, path)
        return {"source_id": report.source_id, "status": report.status, "chunks": report.chunks}

    @router.delete("/sources/{source_id:path}")
    async def remove(source_id: str, shop_id: str = shop_dep) -> dict[str, str]:
        await rt().knowledge().remove(shop_id, source_id)
        return {"removed": source_id}

    @router.get("/candidates")
    async def candidates(status: str = "pending", shop_id: str = shop_dep) -> dict[str, Any]:
        rows = await rt().knowledge().candidates(shop_id, None if status == "all" else status)
        return {"candidates": [
            {"id": r.id, "status": r.status, "question": r.question, "variants": r.variants,
             "answer": r.answer, "chat_ids": r.chat_ids, "score": r.score, "note": r.note}
            for r in rows
        ]}  # fmt: skip

    @router.post("/candidates/{candidate_id}/approve")
    async def approve(candidate_id: str, body: ApproveIn, shop_id: str = shop_dep) -> Any:
        chunk = (
            await rt()
            .knowledge()
            .approve(shop_id, candidate_id, answer=body.answer, question=body.question)
        )
        return {"id": candidate_id, "status": "approved", "source_id": chunk}

    @router.post("/candidates/{candidate_id}/reject")
    async def reject(candidate_id: str, body: RejectIn, shop_id: str = shop_dep) -> Any:
        await rt().knowledge().reject(shop_id, candidate_id, note=body.note)
        return {"id": candidate_id, "status": "rejected"}

    return router
