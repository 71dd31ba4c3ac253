"""Passage vectors computed once on a machine are read back from the cache file, bit for bit;
a cache that cannot be used only costs the time to compute them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xiaoer.knowledge.embed import E5Embedder

TEXTS = ["退货要在签收后七天内申请", "周末也发货吗", "退货要在签收后七天内申请"]


def test_a_second_embedder_reads_the_vectors_back(tmp_path: Path) -> None:
    cache = tmp_path / "vectors.sqlite"
    first = E5Embedder(cache=cache).passages(TEXTS)
    assert np.array_equal(first, E5Embedder().passages(TEXTS))  # the same as uncached

    again = E5Embedder(cache=cache)

    def no_model(_texts: object) -> np.ndarray:
        raise AssertionError("embedded again")

    again._passages = no_model  # type: ignore[method-assign]
    assert np.array_equal(again.passages(TEXTS), first)
    # a new text among known ones: only it is computed
    seen: list[list[str]] = []
    mixed = E5Embedder(cache=cache)
    real = mixed._passages

    def counted(texts: list[str]) -> np.ndarray:
        seen.append(list(texts))
        return real(texts)

    mixed._passages = counted  # type: ignore[method-assign]
    out = mixed.passages(["周末也发货吗", "发票怎么开"])
    assert seen == [["发票怎么开"]] and np.array_equal(out[0], first[1])


def test_an_unusable_cache_file_is_logged_and_the_vectors_computed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bad = tmp_path / "not-a-db.sqlite"
    bad.write_bytes(b"this is not a database" * 100)
    out = E5Embedder(cache=bad).passages(TEXTS[:2])
    assert out.shape == (2, 384) and "embedding cache" in caplog.text


def test_the_cache_keeps_the_vectors_written_last(tmp_path: Path) -> None:
    from xiaoer.knowledge.embed import VectorCache

    cache = VectorCache(tmp_path / "vectors.sqlite", "m", 2, limit=3)
    texts = ["一", "二", "三", "四", "五"]
    for i, text in enumerate(texts):
        cache.put([text], np.array([[i, i]], np.float32))
    kept = cache.get(texts)
    assert sorted(kept) == [2, 3, 4]  # the two written first went
    assert np.array_equal(kept[4], np.array([4, 4], np.float32))


def test_query_vectors_asked_again_are_not_computed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    import xiaoer.knowledge.embed as embed

    monkeypatch.setattr(embed, "QUERIES_KEPT", 2)
    embedder = E5Embedder()
    fresh = E5Embedder().query("发什么快递")
    computed: list[str] = []
    model = embedder._load()

    class Counting:
        def query(self, text: str) -> object:
            computed.append(text)
            return model.query(text)  # type: ignore[attr-defined]

    embedder._model = Counting()
    first = embedder.query("发什么快递")
    assert np.array_equal(first, fresh) and not first.flags.writeable
    assert embedder.query("发什么快递") is first and computed == ["发什么快递"]
    embedder.query("多久发货")
    embedder.query("能开发票吗")  # the oldest goes: two are kept
    embedder.query("发什么快递")
    assert computed == ["发什么快递", "多久发货", "能开发票吗", "发什么快递"]
