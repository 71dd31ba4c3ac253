"""A long query (a 2,000-character shopper message, a pasted page) is embedded from its first
`QUERY_CHARS` characters: e5 reads 512 tokens at most, and the engine's time grows with the
text (10,000 characters took 60 s)."""

from __future__ import annotations

from typing import Any

import numpy as np

from xiaoer.knowledge.embed import QUERY_CHARS, E5Embedder


class Engine:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def query(self, text: str) -> Any:
        self.seen.append(text)
        return np.zeros(384, np.float32)


def test_a_long_query_is_embedded_from_its_start() -> None:
    embedder, engine = E5Embedder(), Engine()
    embedder._model = engine  # the engine is built lazily; this one records what it is given
    long = "请问这双鞋的尺码偏大还是偏小" * 500
    assert embedder.query(long).shape == (384,)
    assert engine.seen == [long[:QUERY_CHARS]]
    embedder.query("运费谁出")
    assert engine.seen[-1] == "运费谁出"
