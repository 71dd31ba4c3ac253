"""The in-process hybrid index of one shop: BM25 over `text.tokens` + dense cosine, fused by
reciprocal rank (RRF). Built from the stored chunks; nothing here touches the database."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from xiaoer.knowledge.text import tokens

RRF_K = 60
DEPTH = 50
"""How many hits each leg contributes to the fusion."""


@dataclass(frozen=True, slots=True)
class Passage:
    id: str
    source_id: str
    kind: str
    title: str
    text: str
    product_id: str | None = None
    page: int | None = None
    field: str | None = None
    priority: int = 0
    expires_at: datetime | None = None

    def indexed_text(self) -> str:
        """What both legs see: the heading path or product name carries much of the meaning."""
        return f"{self.title}\n{self.text}" if self.title else self.text


@dataclass(frozen=True, slots=True)
class ProductName:
    id: str
    title: str


@dataclass(frozen=True, slots=True)
class Hit:
    passage: Passage
    score: float
    """The fused RRF score (rank-based; compare within one query only)."""
    bm25: float
    cosine: float


class Bm25:
    """Okapi BM25 with an inverted index of numpy arrays (k1 = 1.2, b = 0.75)."""

    def __init__(self, docs: Sequence[Sequence[str]], k1: float = 1.2, b: float = 0.75) -> None:
        self.n = len(docs)
        lengths = np.array([len(d) for d in docs], np.float32)
        avg = float(lengths.mean()) if self.n else 1.0
        norm = k1 * (1 - b + b * lengths / max(avg, 1e-6))
        postings: dict[str, tuple[list[int], list[int]]] = {}
        for i, doc in enumerate(docs):
            for term, tf in Counter(doc).items():
                ids, tfs = postings.setdefault(term, ([], []))
                ids.append(i)
                tfs.append(tf)
        self.postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for term, (ids, tfs) in postings.items():
            idx = np.array(ids, np.int32)
            tf = np.array(tfs, np.float32)
            idf = math.log(1 + (self.n - len(ids) + 0.5) / (len(ids) + 0.5))
            self.postings[term] = (idx, (idf * tf * (k1 + 1) / (tf + norm[idx])).astype(np.float32))

    def scores(self, query: Sequence[str]) -> np.ndarray:
        out = np.zeros(self.n, np.float32)
        for term in set(query):
            hit = self.postings.get(term)
            if hit is not None:
                out[hit[0]] += hit[1]
        return out


@dataclass
class ShopIndex:
    passages: list[Passage]
    vectors: np.ndarray | None
    """(n, dim) float32, L2-normalised; None = BM25 only (no embedder)."""
    tokenized: list[list[str]] | None = None
    """The passages' BM25 terms when already known (benchmarks); None = computed here."""
    bm25: Bm25 = field(init=False)
    products: np.ndarray = field(init=False)
    kinds: np.ndarray = field(init=False)
    expires: np.ndarray = field(init=False)
    product_names: list[ProductName] = field(init=False)
    """The catalog's products (from their overview passages), to spot one a question names."""

    def __post_init__(self) -> None:
        docs = self.tokenized or [tokens(p.indexed_text()) for p in self.passages]
        self.bm25 = Bm25(docs)
        self.tokenized = None  # not kept: the postings hold what search needs
        self.product_names = [
            ProductName(p.product_id, p.title)
            for p in self.passages
            if p.kind == "product" and p.product_id and p.field == "description"
        ]
        self.products = np.array([p.product_id or "" for p in self.passages], dtype=object)
        self.kinds = np.array([p.kind for p in self.passages], dtype=object)
        self.expires = np.array(
            [p.expires_at.timestamp() if p.expires_at else np.inf for p in self.passages],
            np.float64,
        )

    def __len__(self) -> int:
        return len(self.passages)

    def search(
        self,
        query: str,
        qvec: np.ndarray | None,
        *,
        k: int = 5,
        method: str = "hybrid",
        product_id: str | None = None,
        now: datetime | None = None,
        kinds: Sequence[str] | None = None,
    ) -> list[Hit]:
        """Top `k` passages. With `product_id`, passages about other products are left out
        (general passages stay); expired ones (merchant facts) are left out at `now`."""
        if not self.passages:
            return []
        allowed = self._mask(product_id, now, kinds)
        lexical = self.bm25.scores(tokens(query))
        dense = (
            self.vectors @ qvec
            if self.vectors is not None and qvec is not None
            else np.zeros(len(self.passages), np.float32)
        )
        legs: list[np.ndarray] = []
        if method in ("hybrid", "bm25"):
            legs.append(_ranked(np.where(allowed & (lexical > 0), lexical, -np.inf)))
        if method in ("hybrid", "dense") and self.vectors is not None and qvec is not None:
            legs.append(_ranked(np.where(allowed, dense, -np.inf)))
        fused: dict[int, float] = {}
        for ranked in legs:
            for rank, i in enumerate(ranked):
                fused[int(i)] = fused.get(int(i), 0.0) + 1.0 / (RRF_K + rank + 1)
        best = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
        return [
            Hit(self.passages[i], score, float(lexical[i]), float(dense[i])) for i, score in best
        ]

    def _mask(
        self, product_id: str | None, now: datetime | None, kinds: Sequence[str] | None
    ) -> np.ndarray:
        mask = np.ones(len(self.passages), bool)
        if product_id is not None:
            mask &= (self.products == "") | (self.products == product_id)
        if now is not None:
            mask &= self.expires > now.timestamp()
        if kinds is not None:
            mask &= np.isin(self.kinds, list(kinds))
        return mask


def _ranked(scores: np.ndarray) -> np.ndarray:
    finite = int(np.isfinite(scores).sum())
    if finite == 0:
        return np.zeros(0, np.int64)
    depth = min(DEPTH, finite)
    top = np.argpartition(-scores, depth - 1)[:depth]
    return top[np.argsort(-scores[top], kind="stable")]
