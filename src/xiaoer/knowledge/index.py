"""The in-process hybrid index of one shop: BM25 over `text.tokens` + dense cosine, fused by
reciprocal rank (RRF). Built from the stored chunks; nothing here touches the database. The BM25
leg is saved to disk (`SavedIndexes`) and loaded by the next process that needs it."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib.metadata import version
from pathlib import Path

import bm25s
import numpy as np

from xiaoer.knowledge.mining import NamedProducts
from xiaoer.knowledge.text import tokens

log = logging.getLogger(__name__)
logging.getLogger("bm25s").setLevel(logging.WARNING)  # it sets itself to DEBUG on import

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


class Lexical:
    """Okapi BM25 (Lucene's variant, k1 = 1.2, b = 0.75) on bm25s's sparse score matrix, which
    can be saved to a folder and loaded back without tokenizing the passages again."""

    K1 = 1.2
    B = 0.75
    FILES = ("data.csc.index.npy", "indices.csc.index.npy", "indptr.csc.index.npy",
             "vocab.index.json", "params.index.json")  # fmt: skip
    """What `bm25s.BM25.save` writes: a folder holding all of them is a whole index."""

    def __init__(self, retriever: bm25s.BM25 | None, n: int) -> None:
        self.retriever = retriever
        self.n = n

    @classmethod
    def build(cls, docs: Sequence[Sequence[str]]) -> Lexical:
        if not docs:
            return cls(None, 0)
        retriever = bm25s.BM25(method="lucene", k1=cls.K1, b=cls.B)
        retriever.index([list(d) for d in docs], show_progress=False)
        return cls(retriever, len(docs))

    @classmethod
    def load(cls, folder: Path) -> Lexical:
        """Raises (FileNotFoundError, or whatever numpy and json raise on a broken file) when
        the folder is not a whole index."""
        if not all((folder / name).is_file() for name in cls.FILES):
            raise FileNotFoundError(f"{folder}: not a saved index")
        retriever = bm25s.BM25.load(folder, mmap=False)
        return cls(retriever, int(retriever.scores["num_docs"]))

    def save(self, folder: Path) -> None:
        if self.retriever is None:
            raise ValueError("an empty index is not saved")
        self.retriever.save(folder, show_progress=False)

    def scores(self, query: Sequence[str]) -> np.ndarray:
        """Each passage's score for the query's distinct terms. bm25s leaves out Lucene's
        constant (k1 + 1); it is put back so a score reads as the classic formula's."""
        if self.retriever is None:
            return np.zeros(self.n, np.float32)
        ids = self.retriever.get_tokens_ids(list(dict.fromkeys(query)))
        out = self.retriever.get_scores_from_ids(ids)
        return (out * (self.K1 + 1)).astype(np.float32)


class SavedIndexes:
    """BM25 legs kept on disk, so that a process (a restarted server, another worker on the
    machine) loads a shop's index instead of tokenizing every passage again. A folder per shop
    and digest of exactly what is indexed (the passages, the tokenizer's code, the libraries'
    versions): a changed passage or tokenizer is a new folder, never a stale index. Writes are
    atomic (a folder renamed into place), and a failed read or write only costs a build."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def lexical(self, shop_id: str, passages: Sequence[Passage]) -> Lexical:
        folder = self.root / _folder_name(shop_id) / _digest(passages)
        if folder.is_dir():
            try:
                lexical = Lexical.load(folder)
                if lexical.n == len(passages):
                    return lexical
                raise ValueError(f"{lexical.n} passages saved, {len(passages)} indexed")
            except Exception as exc:  # a cache: whatever is wrong with it only costs a build
                log.warning("saved index %s unreadable, building it again: %s", folder, exc)
                shutil.rmtree(folder, ignore_errors=True)  # else it could never be replaced
        lexical = Lexical.build([tokens(p.indexed_text()) for p in passages])
        if lexical.n:
            self._save(lexical, folder)
        return lexical

    @staticmethod
    def _save(lexical: Lexical, folder: Path) -> None:
        tmp = folder.parent / f".{folder.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        try:
            lexical.save(tmp)
            try:
                tmp.rename(folder)
            except OSError:  # another process saved the same index first
                return
            for old in folder.parent.iterdir():  # the shop's earlier indexes, and crashed writes
                if old != folder and (not old.name.startswith(".") or _older(old, STALE_S)):
                    shutil.rmtree(old, ignore_errors=True)
        except OSError as exc:
            log.warning("index not saved to %s: %s", folder, exc)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


STALE_S = 600.0
"""A half-written index folder older than this was left by a process that died writing it."""


def _folder_name(shop_id: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", shop_id)[:40]
    return f"{safe}-{hashlib.sha256(shop_id.encode()).hexdigest()[:8]}"


def _digest(passages: Sequence[Passage]) -> str:
    h = hashlib.sha256(_tokenizer_key())
    for p in passages:
        h.update(f"{p.id}\x00{p.indexed_text()}\x01".encode())
    return h.hexdigest()[:32]


@cache
def _tokenizer_key() -> bytes:
    """What else decides the saved terms and scores: the tokenizer's code and word list, the
    BM25 library and its parameters."""
    from xiaoer.knowledge import text

    parts = [Path(text.__file__).read_bytes(), version("jieba").encode(),
             version("bm25s").encode(), f"{Lexical.K1}/{Lexical.B}".encode()]  # fmt: skip
    return hashlib.sha256(b"\x00".join(parts)).digest()


def _older(path: Path, seconds: float) -> bool:
    try:
        return time.time() - path.stat().st_mtime > seconds
    except OSError:
        return False


@dataclass
class ShopIndex:
    passages: list[Passage]
    vectors: np.ndarray | None
    """(n, dim) float32, L2-normalised; None = BM25 only (no embedder)."""
    tokenized: list[list[str]] | None = None
    """The passages' BM25 terms when already known (benchmarks); None = computed here."""
    lexical: Lexical | None = None
    """The BM25 leg when already built (loaded from disk); None = built here."""
    products: np.ndarray = field(init=False)
    kinds: np.ndarray = field(init=False)
    expires: np.ndarray = field(init=False)
    product_names: list[ProductName] = field(init=False)
    """The catalog's products (from their overview passages), to spot one a question names."""
    named: NamedProducts = field(init=False)
    """`product_names` prepared for matching questions (`KnowledgeBase.product_named`)."""

    def __post_init__(self) -> None:
        if self.lexical is None or self.lexical.n != len(self.passages):
            docs = self.tokenized or [tokens(p.indexed_text()) for p in self.passages]
            self.lexical = Lexical.build(docs)
        self.tokenized = None  # not kept: the postings hold what search needs
        self.product_names = [
            ProductName(p.product_id, p.title)
            for p in self.passages
            if p.kind == "product" and p.product_id and p.field == "description"
        ]
        self.named = NamedProducts(self.product_names)
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
        lexical = self.lexical.scores(tokens(query))
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
