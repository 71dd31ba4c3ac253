"""The knowledge base on a real SQLite store with the packaged e5 model: incremental ingestion,
search with citations, tenancy, product filter, merchant facts, chat mining and review."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from conftest import NOW
from minishop import write_bundle
from xiaoer.config import Settings
from xiaoer.domain.errors import BadInput, NotFound
from xiaoer.domain.models import Product
from xiaoer.knowledge import KnowledgeBase
from xiaoer.knowledge.embed import E5Embedder
from xiaoer.knowledge.mining import mine, pairs_of
from xiaoer.llm.scripted import ScriptedLLM
from xiaoer.runtime import Runtime

WARRANTY = "# 延保服务\n\n## 套餐价格\n\n一年延保 199 元，两年延保 299 元。\n\n## 不保什么\n\n进水和人为摔坏不在保障范围。\n"


@pytest.fixture
async def rt(tmp_path: Path) -> AsyncIterator[Runtime]:
    runtime = await Runtime.open(Settings(home=tmp_path / "home", now=NOW), llm=ScriptedLLM())
    await runtime.import_shop(write_bundle(tmp_path / "a", shop_id="alpha"))
    await runtime.import_shop(write_bundle(tmp_path / "b", shop_id="beta"))
    yield runtime
    await runtime.close()


async def test_bundle_import_learns_policy_faq_and_catalog(rt: Runtime) -> None:
    sources = {s.id: s.chunks for s in await rt.knowledge().sources("alpha") if s.kind != "chat"}
    assert {"doc:policy.md", "faq", "catalog"} <= set(sources)
    assert all(n > 0 for n in sources.values())
    hits = await rt.knowledge().search("alpha", "鞋面是什么材料")
    assert (
        hits[0].passage.id == "product:P1:鞋面材质" and hits[0].passage.text == "鞋面材质：工程网布"
    )


async def test_documents_are_incremental(rt: Runtime, tmp_path: Path) -> None:
    kb = rt.knowledge()
    doc = tmp_path / "warranty.md"
    doc.write_text(WARRANTY, encoding="utf-8")
    first = await kb.ingest_document("alpha", doc)
    assert (first.status, first.chunks) == ("added", 2)
    assert (await kb.ingest_document("alpha", doc)).status == "unchanged"
    hit = (await kb.search("alpha", "两年延保多少钱", k=1))[0]
    assert hit.passage.id == "doc:warranty.md#1" and "299" in hit.passage.text
    assert hit.passage.title == "延保服务 > 套餐价格"
    doc.write_text(WARRANTY.replace("299", "329").replace("进水和", ""), encoding="utf-8")
    assert (await kb.ingest_document("alpha", doc)).status == "replaced"
    texts = [h.passage.text for h in await kb.search("alpha", "延保", k=10, kinds=["doc"])]
    assert any("329" in t for t in texts) and not any("299" in t for t in texts)


async def test_shops_never_see_each_other(rt: Runtime, tmp_path: Path) -> None:
    doc = tmp_path / "warranty.md"
    doc.write_text(WARRANTY, encoding="utf-8")
    await rt.knowledge().ingest_document("alpha", doc)
    beta = await rt.knowledge().search("beta", "两年延保多少钱", k=20)
    assert beta and not any(h.passage.source_id == "doc:warranty.md" for h in beta)


async def test_product_filter_keeps_general_passages(rt: Runtime) -> None:
    hits = await rt.knowledge().search("alpha", "材质", k=20, product_id="P2")
    products = {h.passage.product_id for h in hits}
    assert "P1" not in products and "P2" in products and None in products


async def test_facts_outrank_and_expire(rt: Runtime) -> None:
    kb = rt.knowledge()
    fact = await kb.add_fact("alpha", "本周六仓库盘点，不发货", expires_at=NOW + timedelta(days=2))
    hits = await kb.search("alpha", "周六发货吗")
    assert hits[0].passage.id == fact and hits[0].passage.kind == "fact"
    old = await kb.add_fact("alpha", "双十一期间顺延发货", expires_at=NOW - timedelta(days=1))
    assert old not in [h.passage.id for h in await kb.search("alpha", "双十一发货", k=20)]
    with pytest.raises(BadInput, match="empty"):
        await kb.add_fact("alpha", "  ")


CHATS = [
    {"id": "C1", "rating": 5, "messages": [
        {"role": "shopper", "text": "疾风 3 男子缓震跑鞋偏大还是偏小？"},
        {"role": "agent", "text": "亲，疾风 3 偏小半码，建议拍大半码~"}]},
    {"id": "C2", "rating": 4, "messages": [
        {"role": "shopper", "text": "疾风 3 男子缓震跑鞋尺码偏大还是偏小"},
        {"role": "agent", "text": "疾风 3 偏小半码哦，建议大半码。"}]},
    {"id": "C3", "rating": 1, "messages": [
        {"role": "shopper", "text": "疾风 3 男子缓震跑鞋偏大还是偏小呀"},
        {"role": "agent", "text": "不清楚，您自己看吧。"}]},
    {"id": "C4", "rating": 5, "messages": [
        {"role": "shopper", "text": "我的订单到哪了？"},
        {"role": "agent", "text": "您的订单 SO1001 已经发出，单号 SF1234567890。"}]},
]  # fmt: skip


def test_mining_groups_across_chats_and_holds_back_bad_answers() -> None:
    product = Product("P1", "疾风 3 男子缓震跑鞋", "跑鞋", "步履", "", {})
    pairs, dropped = pairs_of(CHATS[3], [product])
    assert pairs == [] and dropped == 1  # order-specific: not shop knowledge
    report = mine(CHATS, [product], E5Embedder())
    assert report.pairs == 3 and report.order_specific == 1
    [candidate] = report.candidates
    assert candidate.chat_ids == ["C1", "C2", "C3"] and candidate.product_id == "P1"
    assert "偏小半码" in candidate.answer and candidate.answer_chat in ("C1", "C2")
    only_bad = [CHATS[2], {**CHATS[2], "id": "C5"}]
    assert mine(only_bad, [product], E5Embedder()).held_back == 1


async def test_review_makes_candidates_searchable_and_rejection_sticks(rt: Runtime) -> None:
    kb = rt.knowledge()
    report, _ = await kb.ingest_chats("alpha", "history.jsonl", CHATS)
    assert report.extra["candidates"] == 1
    [cand] = await kb.candidates("alpha")
    assert cand.chat_ids == ["C1", "C2", "C3"]
    chunk = await kb.approve("alpha", cand.id, answer="疾风 3 偏小半码，建议拍大半码。")
    hits = await kb.search("alpha", "疾风3码数偏不偏", k=10, kinds=["chat"])
    assert hits[0].passage.id == chunk and hits[0].passage.product_id == "P1"
    assert (await kb.candidates("alpha", "approved"))[0].note == "edited"
    await kb.reject("alpha", cand.id, note="以尺码表为准")
    assert await kb.search("alpha", "疾风3码数偏不偏", k=10, kinds=["chat"]) == []
    again, _ = await kb.ingest_chats("alpha", "history.jsonl", [*CHATS, {**CHATS[0], "id": "C9"}])
    assert again.extra["candidates"] == 0
    assert [c.status for c in await kb.candidates("alpha", None)] == ["rejected"]
    with pytest.raises(NotFound):
        await kb.approve("alpha", "nope")


async def test_bm25_only_without_embeddings(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "h", now=NOW, embeddings=False)
    runtime = await Runtime.open(settings, llm=ScriptedLLM())
    try:
        await runtime.import_shop(write_bundle(tmp_path / "a"))
        kb: KnowledgeBase = runtime.knowledge()
        assert kb.embedder is None
        hits = await kb.search("mini", "鞋面材质")
        assert hits[0].passage.product_id == "P1" and hits[0].cosine == 0.0
        with pytest.raises(BadInput, match="unknown method"):
            await kb.search("mini", "x", method="magic")
    finally:
        await runtime.close()


async def test_mined_product_facts_are_kept_only_when_the_description_says_them(
    rt: Runtime,
) -> None:
    replies = iter(
        [
            "材质｜鞋面工程网布，透气｜描述\n保修｜整鞋保修三年｜描述\n适用场景｜日常慢跑｜描述\n胡说八道",
            "",
        ]
    )

    async def ask(system: str, prompt: str) -> str:
        assert "只能是" in system and prompt.startswith("标题：")
        return next(replies, "")

    kb = rt.knowledge()
    async with rt.sessions() as s:
        from xiaoer.store.repositories import CatalogRepository

        catalog = CatalogRepository(s, "alpha")
        p1 = await catalog.get("P1")
        assert p1 is not None
        await catalog.upsert(
            [replace(p1, description="疾风 3：鞋面工程网布，透气轻盈，适合日常慢跑。")]
        )
        await s.commit()
    report, mined = await kb.mine_products("alpha", ask, limit=1)
    assert (mined.proposed, mined.kept) == (3, 2) and report.status == "added"
    assert mined.dropped == ["P1 保修｜整鞋保修三年"]  # invented: not in the description
    hits = await kb.search("alpha", "疾风3适合慢跑吗", k=10)
    assert any(
        h.passage.source_id == "catalog-facts" and h.passage.field == "description" for h in hits
    )
    again, _ = await kb.mine_products("alpha", ask, limit=1)
    assert again.status == "unchanged"


async def test_a_merchant_chat_log_named_like_the_bundles_keeps_its_candidates(
    rt: Runtime,
) -> None:
    kb = rt.knowledge()
    await kb.ingest_chats("alpha", "bundle-chats.jsonl", CHATS)
    report, _ = await kb.ingest_chats(
        "alpha", "chats.jsonl", [{**c, "id": c["id"] + "x"} for c in CHATS]
    )
    assert report.source_id == "chats:chats.jsonl"
    assert len(await kb.candidates("alpha")) == 2  # one per log; neither replaced the other


async def test_turns_arriving_together_wait_for_one_build(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker's first turns for a shop all find its index missing: they share one build
    (each used to build its own, one after another, and the last waited for all of them)."""
    import asyncio

    kb = rt.knowledge()
    kb._indexes.clear()
    built: list[int] = []
    build = kb._build
    monkeypatch.setattr(
        kb, "_build", lambda shop, rows: built.append(len(rows)) or build(shop, rows)
    )
    indexes = await asyncio.gather(*(kb.index("alpha") for _ in range(8)))
    assert len(built) == 1 and all(i is indexes[0] for i in indexes)
    doc = Path(rt.settings.home) / "w.md"
    doc.write_text(WARRANTY, encoding="utf-8")
    await kb.ingest_document("alpha", doc)
    assert await kb.index("alpha") is not indexes[0] and len(built) == 2  # knowledge changed


async def test_a_change_made_elsewhere_is_seen_within_a_second(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whether the knowledge changed is asked of the database at most every `FRESH_S`: a
    change through this process is seen at once, one through another (here a second knowledge
    base on the same store) once that time is up."""
    from xiaoer.knowledge import base

    kb = rt.knowledge()
    other = KnowledgeBase(kb.sessions, kb.embedder, kb.clock, kb.saved)
    monkeypatch.setattr(base, "FRESH_S", 3600.0)
    first = await kb.index("alpha")
    await kb.add_fact("alpha", "本店周日不发货。")
    assert await kb.index("alpha") is not first  # through this process: at once
    here = await kb.index("alpha")
    await other.add_fact("alpha", "本店春节期间暂停发货。")
    assert await kb.index("alpha") is here  # elsewhere: not asked again yet
    monkeypatch.setattr(base, "FRESH_S", 0.0)
    assert await kb.index("alpha") is not here
    hits = await kb.search("alpha", "春节发货吗", kinds=["fact"])
    assert any("春节" in h.passage.text for h in hits)


async def test_warm_builds_the_named_shops_indexes(rt: Runtime) -> None:
    rt.knowledge()._indexes.clear()
    await rt.warm(["beta"])
    assert set(rt.knowledge()._indexes) == {"beta"} and "warm_knowledge_s" in rt.timings


async def test_a_new_process_loads_the_saved_index_instead_of_tokenizing(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The BM25 leg is saved under <home>/indexes: another process (a second knowledge base on
    the same store and folder) loads it, tokenizes nothing, and ranks exactly as the builder."""
    from xiaoer.knowledge import base
    from xiaoer.knowledge import index as index_module

    kb = rt.knowledge()
    built = await kb.index("alpha")
    folders = list((rt.settings.home / "indexes").glob("alpha-*/*"))
    assert len(folders) == 1 and (folders[0] / "vocab.index.json").is_file()

    tokenized: list[str] = []
    tokens = index_module.tokens
    monkeypatch.setattr(index_module, "tokens", lambda t: tokenized.append(t) or tokens(t))
    other = KnowledgeBase(kb.sessions, kb.embedder, kb.clock, kb.saved)
    loaded = await other.index("alpha")
    assert loaded is not built and tokenized == []
    for query in ("鞋面材质", "退货运费谁出", "保修多久"):
        tokenized.clear()
        a = [(h.passage.id, round(h.bm25, 4)) for h in await kb.search("alpha", query)]
        b = [(h.passage.id, round(h.bm25, 4)) for h in await other.search("alpha", query)]
        assert a == b and a and len(tokenized) == 2  # the query alone, once per search

    doc = Path(rt.settings.home) / "w.md"
    doc.write_text(WARRANTY, encoding="utf-8")
    await kb.ingest_document("alpha", doc)
    tokenized.clear()
    monkeypatch.setattr(base, "FRESH_S", 0.0)  # the other process asks again once it is up
    rebuilt = await other.index("alpha")  # changed passages: built again, in their own folder
    assert len(tokenized) == len(rebuilt.passages) > len(loaded.passages)
    (fresh,) = list((rt.settings.home / "indexes").glob("alpha-*/*"))
    assert fresh != folders[0]  # the stale index was removed
    hits = await other.search("alpha", "延保 两年多少钱", method="bm25")
    assert "299" in hits[0].passage.text


async def test_an_unreadable_saved_index_is_built_again(rt: Runtime) -> None:
    """A broken folder (a file cut short, one missing, JSON that is not a vocabulary) costs a
    build once: the index is saved again whole, and the next process loads it."""
    from xiaoer.knowledge.index import Lexical

    kb = rt.knowledge()
    before = [h.passage.id for h in await kb.search("alpha", "鞋面材质", method="bm25")]
    (folder,) = list((rt.settings.home / "indexes").glob("alpha-*/*"))
    for name, breaks in (("data.csc.index.npy", lambda f: f.write_bytes(b"not numpy")),
                         ("indptr.csc.index.npy", lambda f: f.unlink()),
                         ("vocab.index.json", lambda f: f.write_text("[]"))):  # fmt: skip
        breaks(folder / name)
        kb._indexes.clear()
        assert [h.passage.id for h in await kb.search("alpha", "鞋面材质", method="bm25")] == before
        assert Lexical.load(folder).n == len(await kb.index("alpha"))  # saved again, whole


async def test_saved_indexes_can_be_turned_off(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "h", now=NOW, embeddings=False, saved_indexes=False)
    runtime = await Runtime.open(settings, llm=ScriptedLLM())
    try:
        await runtime.import_shop(write_bundle(tmp_path / "a"))
        assert (await runtime.knowledge().search("mini", "鞋面材质"))[0].passage.product_id == "P1"
        assert not (tmp_path / "h" / "indexes").exists()
    finally:
        await runtime.close()
