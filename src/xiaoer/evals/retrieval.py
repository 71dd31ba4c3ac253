"""Retrieval quality on the held-out question sets (evals/retrieval/<shop>.yaml).

Each question lists its gold sources: `{doc: FILE, section: HEADING}`, `{faq: ID}`,
`{product: ID}` or `{chat: CHAT_ID}`; a retrieved passage that matches any of them is a hit.
Reports recall@k and MRR (over the top 10) for BM25 alone, dense alone and the hybrid.
The demo shops are built at the suite anchor with every mined chat candidate approved, so
chat-sourced answers are retrievable.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from xiaoer.config import Settings
from xiaoer.demo import write_demo_bundles
from xiaoer.domain.errors import BadInput
from xiaoer.evals.report import percentile
from xiaoer.evals.scenario import ANCHOR
from xiaoer.knowledge import Passage
from xiaoer.runtime import Runtime

METHODS = ("bm25", "dense", "hybrid")
DEPTH = 10
DEFAULT_DIR = Path(__file__).resolve().parents[3] / "evals" / "retrieval"


@dataclass(frozen=True, slots=True)
class Question:
    shop: str
    text: str
    gold: tuple[dict[str, str], ...]


def load_questions(folder: Path) -> list[Question]:
    if not folder.is_dir():
        raise BadInput(f"no retrieval sets at {str(folder)!r}")
    out: list[Question] = []
    for path in sorted(folder.glob("*.yaml")):
        data = yaml.safe_load(path.read_text("utf-8")) or {}
        shop = str(data.get("shop") or path.stem)
        for i, q in enumerate(data.get("questions") or [], start=1):
            if not q.get("q") or not q.get("gold"):
                raise BadInput(f"{path.name}: question {i} needs q and gold")
            out.append(Question(shop, str(q["q"]), tuple(dict(g) for g in q["gold"])))
    return out


def matches(passage: Passage, gold: dict[str, str], chat_of: dict[str, set[str]]) -> bool:
    if "doc" in gold:
        stem = Path(gold["doc"]).stem
        if Path(passage.source_id.removeprefix("doc:")).stem != stem:
            return False
        return gold.get("section", "") in passage.title.split(" > ")
    if "faq" in gold:
        return passage.id == f"faq:{gold['faq']}"
    if "product" in gold:
        return passage.kind == "product" and passage.product_id == gold["product"]
    if "chat" in gold:
        return passage.kind == "chat" and gold["chat"] in chat_of.get(passage.id, set())
    return False


async def evaluate(
    folder: Path = DEFAULT_DIR,
    *,
    k: int = 5,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    questions = load_questions(folder)
    root = Path(tempfile.mkdtemp(prefix="xiaoer-retrieval-"))
    try:
        bundles = write_demo_bundles(root / "bundles", anchor=ANCHOR)
        rt = await Runtime.open(Settings(home=root, now=ANCHOR))
        try:
            for path in bundles:
                await rt.import_shop(path)
            kb = rt.knowledge()
            chat_of: dict[str, set[str]] = {}
            shops = sorted({q.shop for q in questions})
            for shop in shops:
                for cand in await kb.candidates(shop):
                    chat_of[await kb.approve(shop, cand.id)] = set(cand.chat_ids)
            return await _score(rt, questions, chat_of, k, progress)
        finally:
            await rt.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def _score(
    rt: Runtime,
    questions: list[Question],
    chat_of: dict[str, set[str]],
    k: int,
    progress: Callable[[int, int], None] | None,
) -> dict[str, Any]:
    kb = rt.knowledge()
    rows: dict[tuple[str, str], list[tuple[bool, float]]] = {}
    latency: dict[str, list[float]] = {m: [] for m in METHODS}
    misses: list[dict[str, Any]] = []
    total = len(questions) * len(METHODS)
    done = 0
    for q in questions:
        for method in METHODS:
            started = time.perf_counter()
            hits = await kb.search(q.shop, q.text, k=DEPTH, method=method)
            latency[method].append((time.perf_counter() - started) * 1000)
            rank = next(
                (
                    i
                    for i, h in enumerate(hits, start=1)
                    if any(matches(h.passage, g, chat_of) for g in q.gold)
                ),
                None,
            )
            hit = rank is not None and rank <= k
            rr = 1.0 / rank if rank else 0.0
            rows.setdefault((q.shop, method), []).append((hit, rr))
            if method == "hybrid" and not hit:
                misses.append(
                    {
                        "shop": q.shop,
                        "q": q.text,
                        "gold": list(q.gold),
                        "got": [h.passage.id for h in hits[:k]],
                    }
                )
            done += 1
            if progress is not None:
                progress(done, total)
    table: dict[str, dict[str, Any]] = {}
    for (shop, method), results in sorted(rows.items()):
        table.setdefault(shop, {})[method] = _rates(results)
    for method in METHODS:
        every = [r for (_, m), rs in rows.items() if m == method for r in rs]
        table.setdefault("all", {})[method] = _rates(every)
    return {
        "k": k,
        "n_questions": len(questions),
        "by_shop": table,
        "latency_ms": {
            m: {"p50": round(percentile(v, 0.5), 1), "p95": round(percentile(v, 0.95), 1)}
            for m, v in latency.items()
        },
        "hybrid_misses": misses,
    }


def _rates(results: list[tuple[bool, float]]) -> dict[str, Any]:
    return {
        "n": len(results),
        "recall": round(sum(h for h, _ in results) / len(results), 3),
        "mrr": round(statistics.fmean(rr for _, rr in results), 3),
    }
