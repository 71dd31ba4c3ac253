"""Merchant endpoints for the shop's knowledge: search, sources, facts, text documents, and
review of chat-mined candidates. Every route is scoped to the merchant key's shop."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import Field

from xiaoer.api.errors import ApiModel
from xiaoer.domain.errors import BadInput, TooLarge
from xiaoer.knowledge import cite
from xiaoer.runtime import Runtime
from xiaoer.services.knowledge import ANSWER_CHARS, QUESTION_CHARS

TEXT_SUFFIXES = (".md", ".markdown", ".txt", ".html", ".htm")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_QUERY_CHARS = 500
"""`GET /v1/knowledge/search?q=`: longer is refused (400) — a question, not a document."""
MAX_DOCUMENT_CHARS = 20_000
"""`POST /v1/knowledge/documents`: longer content is refused with 413. Each chunk of a document
is embedded while the request waits (about 1 s per 360-character chunk on 2 busy cores: a
20,000-character document takes 20–60 s, a 1 MB one would take hours); a bigger file goes in
with `xiaoer ingest docs --shop SHOP FILE`, which shows its progress."""


class FactIn(ApiModel):
    text: str = Field(min_length=1, max_length=500, description="e.g. 本周六不发货")
    expires_at: datetime | None = Field(default=None, description="ISO time with an offset")


class DocumentIn(ApiModel):
    name: str = Field(min_length=1, max_length=120, description="file name, e.g. 保养指南.md")
    content: str = Field(
        min_length=1,
        description=f"Markdown, HTML or text, at most {MAX_DOCUMENT_CHARS:,} characters",
    )


class ApproveIn(ApiModel):
    answer: str | None = Field(
        default=None, max_length=ANSWER_CHARS, description="an edited answer"
    )
    question: str | None = Field(default=None, max_length=QUESTION_CHARS)


class RejectIn(ApiModel):
    note: str = Field(default="", max_length=500)


def knowledge_router(rt: Callable[[], Runtime], merchant: Callable[..., Any]) -> APIRouter:
    router = APIRouter(prefix="/v1/knowledge", tags=["knowledge"])
    shop_dep = Depends(merchant)

    @router.get("/search")
    async def search(
        q: Annotated[str, Query(min_length=1, max_length=MAX_QUERY_CHARS)],
        k: Annotated[int, Query(ge=1, le=50)] = 5,
        product_id: Annotated[str | None, Query(max_length=64)] = None,
        method: Literal["hybrid", "bm25", "dense"] = "hybrid",
        shop_id: str = shop_dep,
    ) -> dict[str, Any]:
        """The top snippets for a question, each with its source id."""
        hits = await rt().knowledge().search(shop_id, q, k=k, method=method, product_id=product_id)
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
        if not name.lower().endswith(TEXT_SUFFIXES):
            raise BadInput(f"name must end in one of {', '.join(TEXT_SUFFIXES)}")
        if CONTROL.search(name):
            raise BadInput("name must not contain control characters")
        if len(body.content) > MAX_DOCUMENT_CHARS:
            raise TooLarge(
                f"the document has {len(body.content):,} characters; the API takes at most "
                f"{MAX_DOCUMENT_CHARS:,} (`xiaoer ingest docs` takes bigger files)"
            )
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
