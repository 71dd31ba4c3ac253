from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from minishop import ORDERS, PRODUCTS, SHOPPERS, write_bundle
from xiaoer.commerce.bundle import BundleInvalid, load_bundle
from xiaoer.domain.models import SkuStatus
from xiaoer.runtime import Runtime
from xiaoer.store.models import KnowledgeCandidateRow
from xiaoer.store.repositories import (
    AuditRepository,
    CatalogRepository,
    ConversationRepository,
    HandoffRepository,
    OrderRepository,
    ShopperRepository,
    ShopRepository,
)


def test_valid_bundle_loads(tmp_path: Path) -> None:
    bundle = load_bundle(write_bundle(tmp_path / "b"))
    assert bundle.shop.id == "mini"
    assert [p.id for p in bundle.products] == ["P1", "P2", "P3"]
    assert len(bundle.orders) == 3 and len(bundle.chats) == 1


def test_every_problem_is_reported_by_file_line_and_field(tmp_path: Path) -> None:
    bad_order = ORDERS[0] | {"total_fen": 1, "shopper_id": "U404"}
    bad_line = ORDERS[1] | {"lines": [ORDERS[1]["lines"][0] | {"sku_id": "NOPE"}]}
    bad_product = PRODUCTS[0] | {"skus": [PRODUCTS[0]["skus"][0] | {"price_fen": 12.5}]}
    folder = write_bundle(
        tmp_path / "b",
        orders=[bad_order, bad_line, ORDERS[2]],
        products=[bad_product, *PRODUCTS[1:]],
    )
    with (folder / "shoppers.jsonl").open("a", encoding="utf-8") as f:
        f.write("{not json\n")
    with pytest.raises(BundleInvalid) as info:
        load_bundle(folder)
    text = [str(p) for p in info.value.problems]
    assert "products.jsonl:1: skus[0].price_fen: Input should be a valid integer" in text[0]
    assert any(t.startswith("shoppers.jsonl:3: not valid JSON") for t in text)
    assert "orders.jsonl:1: shopper_id: unknown shopper 'U404'" in text
    assert any(
        t.startswith("orders.jsonl:1: total_fen: is 1, but the lines add up to") for t in text
    )
    assert "orders.jsonl:2: lines[0].sku_id: unknown SKU 'NOPE'" in text


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"status": "已签收"}, "orders.jsonl:2: shipment: a 已签收 order needs shipped_at"),
        (
            {"created_at": "2026-11-19T10:00:00"},
            "orders.jsonl:2: created_at: Value error, time needs an offset",
        ),
        ({"pay_fen": 1}, "orders.jsonl:2: pay_fen: is 1, expected total+shipping-discount = 30800"),
        (
            {"paid_at": "2026-11-01T10:00:00+08:00"},
            "orders.jsonl:2: paid_at: is earlier than created_at",
        ),
        ({"status": "待付款"}, "orders.jsonl:2: paid_at: a 待付款 order cannot have paid_at"),
        ({"status": "发货了"}, "orders.jsonl:2: status: Input should be"),
    ],
)
def test_order_rules(tmp_path: Path, change: dict[str, object], expected: str) -> None:
    folder = write_bundle(tmp_path / "b", orders=[ORDERS[0], ORDERS[1] | change, ORDERS[2]])
    with pytest.raises(BundleInvalid) as info:
        load_bundle(folder)
    assert any(str(p).startswith(expected) for p in info.value.problems), info.value.problems


def test_missing_files_are_listed(tmp_path: Path) -> None:
    folder = write_bundle(tmp_path / "b")
    (folder / "orders.jsonl").unlink()
    (folder / "policy.md").unlink()
    with pytest.raises(BundleInvalid) as info:
        load_bundle(folder)
    assert [str(p) for p in info.value.problems] == [
        "orders.jsonl: required file is missing",
        "policy.md: required file is missing",
    ]


async def test_invalid_bundle_imports_nothing_and_reimport_replaces(
    runtime: Runtime, tmp_path: Path
) -> None:
    broken = write_bundle(tmp_path / "broken", orders=[ORDERS[0] | {"pay_fen": -5}])
    with pytest.raises(BundleInvalid):
        await runtime.import_shop(broken)
    async with runtime.sessions() as s:
        assert (await ShopRepository(s).counts("mini"))["orders"] == 3  # untouched

    smaller = write_bundle(tmp_path / "smaller", orders=[ORDERS[0]], chats=[])
    _, counts = await runtime.import_shop(smaller)
    assert counts["orders"] == 1
    async with runtime.sessions() as s:
        assert await OrderRepository(s, "mini").get("SO1002") is None
        assert (await ShopRepository(s).counts("mini"))["chats"] == 0


def test_bundle_json_shapes_round_trip(tmp_path: Path) -> None:
    folder = write_bundle(tmp_path / "b")
    first = json.loads((folder / "orders.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert first["lines"][0]["unit_price_fen"] == 29900


def _with_skus(*changes: dict[str, object]) -> list[dict[str, object]]:
    """The mini catalogue with P1's SKUs changed (one change per SKU, in order)."""
    skus = [sku | change for sku, change in zip(PRODUCTS[0]["skus"], changes, strict=True)]
    return [PRODUCTS[0] | {"skus": skus}, *PRODUCTS[1:]]


async def test_sku_status_restock_date_and_shopper_extras_reach_the_store(
    runtime: Runtime, tmp_path: Path
) -> None:
    products = _with_skus(
        {"status": "presale", "restock_date": "2026-12-20"},
        {"status": "sold_out", "restock_date": "2027-01-05"},
    )
    extras = {"会员等级": "金卡", "标签": ["老客", "爱跑步"], "积分": 1200, "企业客户": False}
    shoppers = [SHOPPERS[0] | {"extras": extras}, SHOPPERS[1]]
    await runtime.import_shop(write_bundle(tmp_path / "b", products=products, shoppers=shoppers))
    async with runtime.sessions() as s:
        product = await CatalogRepository(s, "mini").get("P1")
        first = await ShopperRepository(s, "mini").get("U1")
        second = await ShopperRepository(s, "mini").get("U2")
    assert product is not None and first is not None and second is not None
    presale, sold_out = product.skus
    assert (presale.status, presale.restock_date) == (SkuStatus.PRESALE, date(2026, 12, 20))
    assert (sold_out.status, sold_out.restock_date) == (SkuStatus.SOLD_OUT, date(2027, 1, 5))
    assert presale.available and not sold_out.available
    assert first.extras == extras and second.extras == {}
    other = await runtime.commerce("mini").get_product("P2")
    assert other is not None and other.skus[0].status is SkuStatus.ON_SALE


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"status": "下架"}, "products.jsonl:1: skus[0].status: Input should be 'on_sale'"),
        (
            {"status": "sold_out", "stock": 5},
            "products.jsonl:1: skus[0].stock: is 5, but a sold_out SKU has nothing to sell",
        ),
        (
            {"status": "discontinued", "stock": 0, "restock_date": "2026-12-20"},
            "products.jsonl:1: skus[0].restock_date: a discontinued SKU is not restocked",
        ),
        (
            {"restock_date": "12月20日"},
            "products.jsonl:1: skus[0].restock_date: Input should be a valid date",
        ),
    ],
)
def test_sku_status_rules(tmp_path: Path, change: dict[str, object], expected: str) -> None:
    folder = write_bundle(tmp_path / "b", products=_with_skus(change, {}))
    with pytest.raises(BundleInvalid) as info:
        load_bundle(folder)
    assert any(str(p).startswith(expected) for p in info.value.problems), info.value.problems


@pytest.mark.parametrize(
    ("extras", "expected"),
    [
        (["金卡"], "shoppers.jsonl:2: extras: Input should be a valid dictionary"),
        (
            {"备注": "很长" * 1200},
            "shoppers.jsonl:2: extras: Value error, is 2409 characters as JSON; the limit is 2000",
        ),
    ],
)
def test_shopper_extras_must_be_a_small_object(
    tmp_path: Path, extras: object, expected: str
) -> None:
    shoppers = [SHOPPERS[0], SHOPPERS[1] | {"extras": extras}]
    with pytest.raises(BundleInvalid) as info:
        load_bundle(write_bundle(tmp_path / "b", shoppers=shoppers))
    assert expected in [str(p) for p in info.value.problems]


async def test_reimport_closes_the_handoffs_it_replaces_and_counts_what_waits_for_review(
    runtime: Runtime, tmp_path: Path
) -> None:
    now = runtime.clock()
    async with runtime.sessions() as s:
        conversations, handoffs = ConversationRepository(s, "mini"), HandoffRepository(s, "mini")
        for cid, shopper in (("cv1", "U1"), ("cv2", "U2"), ("cv3", "U2")):
            await conversations.create(cid, shopper, "api", now)
            await handoffs.open(cid, shopper, "asked", detail="", priority=2, summary={}, now=now)
        taken = await handoffs.open_for("cv2")
        closed = await handoffs.open_for("cv3")
        assert taken is not None and closed is not None
        taken.status, taken.agent = "taken", "小王"
        closed.status = "closed"
        s.add(
            KnowledgeCandidateRow(
                shop_id="mini",
                id="bundlechats-1",
                source_id="chats:bundle-chats.jsonl",
                question="鞋码偏小吗",
                answer="偏小半码",
                status="pending",
                created_at=now,
            )
        )
        await s.commit()
    _, counts = await runtime.import_shop(write_bundle(tmp_path / "again"))
    assert counts["handoffs_closed"] == 2 and counts["faq_candidates"] == 1
    async with runtime.sessions() as s:
        assert await HandoffRepository(s, "mini").listed(("queued", "taken", "closed")) == []
        audit = [a for a in await AuditRepository(s, "mini").all() if a.event == "handoff_closed"]
    assert sorted((a.conversation_id, a.detail["was"], a.detail["agent"]) for a in audit) == [
        ("cv1", "queued", ""),
        ("cv2", "taken", "小王"),
    ]
    assert all(a.actor == "import" and "re-imported" in a.detail["why"] for a in audit)
    _, again = await runtime.import_shop(write_bundle(tmp_path / "again"))
    assert "handoffs_closed" not in again and again["faq_candidates"] == 1
