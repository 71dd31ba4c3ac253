"""Product search on the built-in backend: the products ranked first, the SKUs read for the
best-ranked ones a batch at a time, and the ranked list kept while the shop's catalogue stamp
holds — with the hits a search over the whole catalogue with its SKUs finds."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from conftest import NOW
from minishop import PRODUCTS, write_bundle
from xiaoer.commerce import builtin
from xiaoer.commerce.base import ProductQuery
from xiaoer.commerce.search import search
from xiaoer.config import Settings
from xiaoer.domain.models import Product
from xiaoer.llm.scripted import ScriptedLLM
from xiaoer.runtime import Runtime
from xiaoer.store.models import SkuRow
from xiaoer.store.repositories import CatalogRepository

KINDS = [("缓震跑鞋", "跑鞋"), ("帆布鞋", "休闲鞋"), ("篮球鞋", "篮球鞋"), ("运动袜", "配件")]


def _catalogue(n: int) -> list[dict[str, Any]]:
    """`n` products of a few kinds, sizes, colours, prices and stock (some sold out)."""
    rng = random.Random(7)
    rows = []
    for i in range(n):
        title, category = rng.choice(KINDS)
        pid = f"G{i:03d}"
        skus = [
            {
                "id": f"{pid}-{ord(color)}-{size}",
                "options": {"颜色": color, "尺码": str(size)},
                "price_fen": rng.choice([4900, 15900, 29900, 59900]),
                "stock": rng.choice([0, 0, 3, 12]),
            }
            for color in rng.sample(["黑", "白", "灰"], 2)
            for size in rng.sample(range(38, 46), 3)
        ]
        rows.append({"id": pid, "title": f"{title} {i} 号", "category": category, "skus": skus})
    return rows


QUERIES = [
    ProductQuery(keyword="跑鞋", size="42"),
    ProductQuery(keyword="帆布鞋", color="白", max_price_fen=20000),
    ProductQuery(keyword="", max_price_fen=5000, limit=3),
    ProductQuery(keyword="篮球", in_stock_only=False, limit=50),
    ProductQuery(keyword="鞋", min_price_fen=50000, size="45", limit=1),
    ProductQuery(category="配件", limit=10),
    ProductQuery(keyword="羽绒服"),
]


async def _runtime(tmp_path: Path, products: list[dict[str, Any]]) -> Runtime:
    settings = Settings(home=tmp_path / "home", now=NOW, secret_key="k")
    rt = await Runtime.open(settings, llm=ScriptedLLM(steps=[]))
    await rt.import_shop(write_bundle(tmp_path / "bundle", products=products))
    return rt


def _seen(hits: list[Any]) -> list[tuple[Product, tuple[str, ...], float]]:
    return [(h.product, h.matching_sku_ids, h.score) for h in hits]


async def test_a_search_finds_what_matching_every_product_with_its_skus_finds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(builtin, "FIRST_BATCH", 1)  # batches of 2 × limit, then 4× each
    read: list[int] = []
    skus_of = CatalogRepository.skus_of

    async def counted(self: CatalogRepository, ids: Any) -> Any:
        read.append(len(ids))
        return await skus_of(self, ids)

    monkeypatch.setattr(CatalogRepository, "skus_of", counted)
    rt = await _runtime(tmp_path, PRODUCTS + _catalogue(80))
    try:
        async with rt.reads() as s:
            everything = await CatalogRepository(s, "mini").all()
        commerce = rt.commerce("mini")
        for query in QUERIES:
            read.clear()
            found = await commerce.search_products(query)
            assert _seen(found) == _seen(search(everything, query)), query
            if query.keyword == "羽绒服":
                assert found == [] and read == []  # nothing ranked: no SKU read
        read.clear()
        await commerce.search_products(ProductQuery(keyword="跑鞋", limit=2))
        assert read == [4]  # the first batch sufficed: 4 products’ SKUs of 83
    finally:
        await rt.close()


async def test_the_ranked_list_is_read_again_only_after_the_catalogue_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bare: list[str] = []
    original = CatalogRepository.bare

    async def counted(self: CatalogRepository) -> list[Product]:
        bare.append(self.shop_id)
        return await original(self)

    monkeypatch.setattr(CatalogRepository, "bare", counted)
    rt = await _runtime(tmp_path, PRODUCTS)
    try:
        commerce = rt.commerce("mini")
        marathon = ProductQuery(keyword="马拉松")
        assert [h.product.id for h in await commerce.search_products(ProductQuery("跑鞋"))] == [
            "P1",
            "P2",
        ]
        assert await commerce.search_products(marathon) == [] and len(bare) == 1
        # a product renamed through the catalogue import: the next search reads the list again
        async with rt.reads() as s:
            p2 = await CatalogRepository(s, "mini").get("P2")
        assert p2 is not None
        async with rt.sessions() as s:
            await CatalogRepository(s, "mini").upsert([replace(p2, title="云跃 Pro 马拉松跑鞋")])
            await s.commit()
        assert [h.product.title for h in await rt.commerce("mini").search_products(marathon)] == [
            "云跃 Pro 马拉松跑鞋"
        ]
        assert len(bare) == 2
        # stock is never kept: a SKU sold out is left out by the next search, list unchanged
        async with rt.sessions() as s:
            await s.execute(update(SkuRow).where(SkuRow.id == "P2-WHT-42").values(stock=0))
            await s.commit()
        assert await commerce.search_products(marathon) == [] and len(bare) == 2
        # the bundle imported again: its own titles are back
        await rt.import_shop(write_bundle(tmp_path / "again", products=PRODUCTS))
        assert await commerce.search_products(marathon) == [] and len(bare) == 3
    finally:
        await rt.close()


class _Listing:
    """A shop's catalogue as `Catalogs` reads it: its stamp, then its products (counted)."""

    def __init__(self, shop_id: str, products: int) -> None:
        self.shop_id, self.stamp_now, self.reads = shop_id, "s1", 0
        self.products = [
            Product(f"{shop_id}{n}", "鞋", "鞋", "", "", {}, ()) for n in range(products)
        ]

    async def stamp(self) -> str:
        return self.stamp_now

    async def bare(self) -> list[Product]:
        self.reads += 1
        return self.products


async def test_the_lists_kept_stay_within_their_budget_of_products() -> None:
    catalogs = builtin.Catalogs(kept=3)
    a, b = _Listing("A", 2), _Listing("B", 2)
    for listing in (a, a, b, b, a):
        entries = await catalogs.entries(listing)
        assert [e.product for e in entries] == listing.products
    # A then B: four products over a budget of three, so A's list went and was read again
    assert (a.reads, b.reads) == (2, 1)
    b.stamp_now = "s2"  # B's catalogue written: read again, and A's list goes for it
    await catalogs.entries(b)
    await catalogs.entries(a)
    assert (a.reads, b.reads) == (3, 2)
    big = _Listing("C", 5)  # a list over the whole budget is still kept while it is the only one
    await catalogs.entries(big)
    await catalogs.entries(big)
    assert big.reads == 1
