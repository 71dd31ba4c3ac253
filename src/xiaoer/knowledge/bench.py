"""Retrieval latency on synthetic catalogs of 1k, 10k and 100k chunks (for `xiaoer bench`).

Embedding 100k passages with e5-small takes about half an hour on 2 cores, so the passages'
vectors are measured honestly only up to `REAL` chunks: that many synthetic passages are
embedded with the real model, and larger indexes repeat those vectors with small noise
(re-normalised). Query embedding, BM25 and the dense scan run for real at every size; the
query latency depends on the index size, not on the vector values. `build_s` is the index
from terms already known (tokenizing is measured on the demo shop); `bm25_load_s` is its BM25
leg loaded back from disk instead.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from xiaoer.knowledge.embed import Embedder
from xiaoer.knowledge.index import Lexical, Passage, ShopIndex
from xiaoer.knowledge.text import tokens

REAL = 1000
BRANDS = "星河 伏特 步履 青柠 声澜 冰川 凌风 暖阳 清泉 极光".split()
KINDS = "跑鞋 篮球鞋 手机 耳机 冰箱 空调 洗衣机 电饭煲 热水器 手环 卫衣 袜子".split()
FIELDS = [
    ("鞋面材质", ["工程网布", "飞织", "超纤皮", "麂皮", "帆布"]),
    ("保修", ["整机1年", "整机2年，压缩机10年", "电池1年", "3个月"]),
    ("适用场景", ["日常慢跑", "马拉松", "室内训练", "通勤", "户外"]),
    ("尺码偏差", ["偏小半码", "标准", "偏大半码"]),
    ("能效等级", ["一级能效", "二级能效", "新一级能效"]),
    ("包装清单", ["主机、说明书、保修卡", "鞋盒、备用鞋带", "充电线、耳塞三副"]),
]
QUERIES = [
    "这款鞋面是什么材料", "保修几年", "适合跑马拉松吗", "偏大还是偏小", "是一级能效吗",
    "包装里有什么", "星河手机保修多久", "冰川冰箱能效等级", "步履跑鞋透气吗", "伏特空调适用场景",
]  # fmt: skip


def synthetic(n: int, rng: random.Random) -> list[Passage]:
    out = []
    for i in range(n):
        brand, kind = rng.choice(BRANDS), rng.choice(KINDS)
        key, values = rng.choice(FIELDS)
        title = f"{brand} {kind} {rng.randint(1, 99)}"
        out.append(
            Passage(f"product:S{i}:{key}", "catalog", "product", title,
                    f"{key}：{rng.choice(values)}", product_id=f"S{i}")
        )  # fmt: skip
    return out


def _load_s(index: ShopIndex) -> float:
    """Seconds to load the index's BM25 leg back from disk (what a process pays instead of
    the build when another one saved it)."""
    assert index.lexical is not None
    with tempfile.TemporaryDirectory() as tmp:
        index.lexical.save(Path(tmp) / "i")
        t0 = time.perf_counter()
        Lexical.load(Path(tmp) / "i")
        return round(time.perf_counter() - t0, 3)


def measure(embedder: Embedder | None, sizes: tuple[int, ...] = (1000, 10000, 100000),
            queries: int = 40) -> dict[str, Any]:  # fmt: skip
    rng = random.Random(7)
    base = synthetic(REAL, rng)
    base_tokens = [tokens(p.indexed_text()) for p in base]
    base_vecs = embedder.passages([p.indexed_text() for p in base]) if embedder else None
    qvecs = [embedder.query(q) for q in QUERIES] if embedder else [None] * len(QUERIES)
    out: dict[str, Any] = {"real_vectors_up_to": REAL, "sizes": {}}
    for n in sizes:
        reps = -(-n // REAL)
        passages = [
            Passage(f"{p.id}#{r}", p.source_id, p.kind, p.title, p.text, product_id=p.product_id)
            for r in range(reps) for p in base
        ][:n]  # fmt: skip
        tokenized = [[*base_tokens[i % REAL], f"sku{i}"] for i in range(n)]
        vectors = None
        if base_vecs is not None:
            noise = np.random.default_rng(n).normal(0, 0.02, (n, base_vecs.shape[1]))
            tiled = np.tile(base_vecs, (reps, 1))[:n] + noise.astype(np.float32)
            vectors = (tiled / np.linalg.norm(tiled, axis=1, keepdims=True)).astype(np.float32)
        t0 = time.perf_counter()
        index = ShopIndex(passages, vectors, tokenized)
        build_s = time.perf_counter() - t0
        row: dict[str, Any] = {"build_s": round(build_s, 2), "bm25_load_s": _load_s(index)}
        methods = ("bm25", "dense", "hybrid") if embedder else ("bm25",)
        for method in methods:
            times = []
            for i in range(queries):
                q = QUERIES[i % len(QUERIES)]
                t = time.perf_counter()
                qvec = embedder.query(q, kept=False) if embedder and method != "bm25" else None
                index.search(q, qvec if qvec is not None else qvecs[i % len(QUERIES)], k=5,
                             method=method)  # fmt: skip
                times.append((time.perf_counter() - t) * 1000)
            times.sort()
            row[method] = {"p50_ms": round(statistics.median(times), 1),
                           "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1)}  # fmt: skip
        out["sizes"][str(n)] = row
    return out
