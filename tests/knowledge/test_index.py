"""The BM25 leg (bm25s underneath): Lucene's BM25 exactly, each query term counted once, and an
index that survives a save and a load."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from xiaoer.knowledge.index import Lexical

DOCS = [["跑鞋", "透气", "透气", "网布"], ["冰箱", "能效"], ["跑鞋", "保修"], []]


def classic(
    docs: list[list[str]], query: list[str], k1: float = 1.2, b: float = 0.75
) -> list[float]:
    avg = sum(map(len, docs)) / len(docs)
    out = []
    for doc in docs:
        score = 0.0
        for term in set(query):
            df = sum(term in d for d in docs)
            tf = doc.count(term)
            if tf:
                idf = math.log(1 + (len(docs) - df + 0.5) / (df + 0.5))
                score += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(doc) / avg))
        out.append(score)
    return out


@pytest.mark.parametrize(
    "query", [["跑鞋"], ["透气", "跑鞋"], ["透气", "透气", "保修"], ["洗衣机"], []]
)
def test_scores_are_lucenes_bm25(query: list[str], tmp_path: Path) -> None:
    built = Lexical.build(DOCS)
    assert np.allclose(built.scores(query), classic(DOCS, query), atol=1e-5)
    built.save(tmp_path / "i")
    loaded = Lexical.load(tmp_path / "i")
    assert loaded.n == 4 and np.array_equal(loaded.scores(query), built.scores(query))


def test_an_empty_shop_scores_nothing_and_is_not_saved(tmp_path: Path) -> None:
    empty = Lexical.build([])
    assert empty.n == 0 and len(empty.scores(["跑鞋"])) == 0
    with pytest.raises(ValueError):
        empty.save(tmp_path / "i")
    with pytest.raises(FileNotFoundError):
        Lexical.load(tmp_path / "i")


def test_building_says_nothing_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    """bm25s sets its own logger to DEBUG: the demo's terminal showed "Building index"."""
    import logging

    caplog.set_level(logging.NOTSET)
    Lexical.build(DOCS)
    assert not [r for r in caplog.records if r.name.startswith("bm25s")]
