"""The demo shop generator: counts, determinism, internal consistency, demo guarantees."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from xiaoer.demo import write_demo_bundles
from xiaoer.demo.generate import KITS, build_shop
from xiaoer.domain.models import OrderStatus

ANCHOR = datetime(2026, 11, 20, 14, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
FILES = [
    "shop.yaml",
    "products.jsonl",
    "shoppers.jsonl",
    "orders.jsonl",
    "policy.md",
    "faq.jsonl",
    "chats.jsonl",
]
STATUSES = {s.value for s in OrderStatus}
ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
TIME_FIELDS = ["paid_at", "shipped_at", "delivered_at", "completed_at", "cancelled_at"]


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def _load(path: Path) -> dict[str, Any]:
    return {
        "shop": yaml.safe_load((path / "shop.yaml").read_text(encoding="utf-8")),
        "products": _jsonl(path / "products.jsonl"),
        "shoppers": _jsonl(path / "shoppers.jsonl"),
        "orders": _jsonl(path / "orders.jsonl"),
        "policy": (path / "policy.md").read_text(encoding="utf-8"),
        "faq": _jsonl(path / "faq.jsonl"),
        "chats": _jsonl(path / "chats.jsonl"),
    }


def _t(text: str) -> datetime:
    t = datetime.fromisoformat(text)
    assert t.tzinfo is not None, text
    return t


SHOPS = ("stride", "volt", "orchard")


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    paths = write_demo_bundles(out, anchor=ANCHOR, seed=7)
    assert paths == [out / "stride", out / "volt", out / "orchard"]
    return out


@pytest.fixture(scope="module")
def shops(out_dir: Path) -> dict[str, dict[str, Any]]:
    return {name: _load(out_dir / name) for name in SHOPS}


def test_every_bundle_file_is_written(out_dir: Path) -> None:
    for name in SHOPS:
        for file in FILES:
            assert (out_dir / name / file).stat().st_size > 0, (name, file)


def test_same_anchor_and_seed_give_identical_bytes(out_dir: Path, tmp_path: Path) -> None:
    write_demo_bundles(tmp_path, anchor=ANCHOR, seed=7)
    for name in SHOPS:
        for file in FILES:
            assert (tmp_path / name / file).read_bytes() == (out_dir / name / file).read_bytes()


def test_naive_anchor_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_demo_bundles(tmp_path, anchor=datetime(2026, 11, 20, 14, 0))


def test_counts_meet_the_minimums(shops: dict[str, dict[str, Any]]) -> None:
    for name, b in shops.items():
        assert b["shop"]["id"] == name and b["shop"]["persona"]
        assert 30 <= len(b["products"]) <= 60, name
        assert sum(len(p["skus"]) for p in b["products"]) >= 120, name
        assert len(b["shoppers"]) >= 300, name
        assert len(b["orders"]) >= 1500, name
        assert {o["status"] for o in b["orders"]} == STATUSES, name
        assert len(b["faq"]) >= 30, name
        assert len(b["chats"]) >= 200, name
        status = Counter(o["status"] for o in b["orders"])
        assert status["已完成"] > len(b["orders"]) / 2, name


def test_order_counts_per_shopper(shops: dict[str, dict[str, Any]]) -> None:
    for b in shops.values():
        per = Counter(o["shopper_id"] for o in b["orders"])
        assert all(n <= 15 for sid, n in per.items() if sid != "U00001")
        assert len(per) < len(b["shoppers"])  # some shoppers never ordered


def test_demo_shopper_has_every_status(shops: dict[str, dict[str, Any]]) -> None:
    for name, b in shops.items():
        mine = [o for o in b["orders"] if o["shopper_id"] == "U00001"]
        assert {o["status"] for o in mine} == STATUSES, name
        shipped = [o for o in mine if o["status"] == "已发货"]
        last = [_t(o["shipment"]["events"][-1]["time"]) for o in shipped]
        moving = [o for o, t in zip(shipped, last, strict=True) if ANCHOR - t <= timedelta(days=1)]
        stuck = [o for o, t in zip(shipped, last, strict=True) if ANCHOR - t > timedelta(days=3)]
        assert any(len(o["shipment"]["events"]) >= 3 for o in moving), name
        assert stuck, name


def test_references_totals_and_ids(shops: dict[str, dict[str, Any]]) -> None:
    for b in shops.values():
        skus = {s["id"]: (p, s) for p in b["products"] for s in p["skus"]}
        assert len(skus) == sum(len(p["skus"]) for p in b["products"])
        shoppers = {s["id"]: s for s in b["shoppers"]}
        for rows in (b["products"], b["shoppers"], b["orders"], b["faq"], b["chats"]):
            ids = [r["id"] for r in rows]
            assert len(ids) == len(set(ids)) and all(ID_RE.match(i) for i in ids)
        for s in b["shoppers"]:
            assert re.fullmatch(r"1\d{10}", s["phone"]) and 1 <= len(s["addresses"]) <= 3
            for a in s["addresses"]:
                assert all(
                    a[k] for k in ("name", "phone", "province", "city", "district", "detail")
                )
        for o in b["orders"]:
            assert re.fullmatch(r"SO\d{10}", o["id"])
            assert o["id"][2:8] == _t(o["created_at"]).strftime("%y%m%d")
            assert o["shopper_id"] in shoppers
            total = 0
            for line in o["lines"]:
                product, sku = skus[line["sku_id"]]
                assert line["product_id"] == product["id"] and line["title"] == product["title"]
                assert line["options"] == sku["options"]
                assert line["unit_price_fen"] == sku["price_fen"] and line["quantity"] >= 1
                total += line["unit_price_fen"] * line["quantity"]
            assert len({line["sku_id"] for line in o["lines"]}) == len(o["lines"])
            assert o["total_fen"] == total
            assert o["shipping_fee_fen"] >= 0 and 0 <= o["discount_fen"] <= total
            assert o["pay_fen"] == total + o["shipping_fee_fen"] - o["discount_fen"]
            for key in ("total_fen", "pay_fen", "shipping_fee_fen", "discount_fen"):
                assert isinstance(o[key], int)


def _check_status(o: dict[str, Any]) -> None:
    status, ship = o["status"], o["shipment"]
    if status in ("已发货", "已签收", "已完成"):
        assert o["shipped_at"] and ship, o["id"]
    if status in ("已签收", "已完成"):
        assert o["delivered_at"] and ship["events"][-1]["status"] == "已签收", o["id"]
        assert _t(o["delivered_at"]) == _t(ship["events"][-1]["time"])
    if status == "已发货":
        assert not o["delivered_at"] and ship["events"][-1]["status"] != "已签收"
    if status == "已完成":
        assert o["completed_at"]
    if status == "已取消":
        assert o["cancelled_at"] and not o["shipped_at"]
        assert o["extras"]["cancel_reason"]
    if status == "待付款":
        assert not any(o[k] for k in TIME_FIELDS) and o["payment_method"] == ""
    if status == "待发货":
        assert o["paid_at"] and not any(o[k] for k in TIME_FIELDS[1:])
    if status == "售后中":
        after = o["extras"]["after_sale"]
        assert after["type"] in ("退货退款", "仅退款", "换货") and after["reason"]
        assert _t(o["created_at"]) <= _t(after["applied_at"]) <= ANCHOR


def test_timestamps_follow_the_status(shops: dict[str, dict[str, Any]]) -> None:
    for b in shops.values():
        for o in b["orders"]:
            created = _t(o["created_at"])
            assert ANCHOR - timedelta(days=121) <= created <= ANCHOR
            chain = [created] + [_t(o[k]) for k in TIME_FIELDS[:4] if o[k]]
            assert chain == sorted(chain) and chain[-1] <= ANCHOR, o["id"]
            if o["cancelled_at"]:
                assert created <= _t(o["cancelled_at"]) <= ANCHOR
            if o["shipment"]:
                times = [_t(e["time"]) for e in o["shipment"]["events"]]
                assert times == sorted(times) and times[0] == _t(o["shipped_at"])
                assert times[-1] <= ANCHOR and o["shipment"]["events"][0]["status"] == "已揽收"
                assert all(e["detail"] and e["status"] for e in o["shipment"]["events"])
            _check_status(o)


def test_recent_statuses_are_recent(shops: dict[str, dict[str, Any]]) -> None:
    for b in shops.values():
        for o in b["orders"]:
            age = ANCHOR - _t(o["created_at"])
            if o["status"] == "待付款":
                assert age <= timedelta(hours=24)
            if o["status"] == "待发货":
                assert age <= timedelta(hours=72)
        delayed = [
            o
            for o in b["orders"]
            if o["status"] == "已发货"
            and ANCHOR - _t(o["shipment"]["events"][-1]["time"]) > timedelta(days=3)
        ]
        assert len(delayed) >= 5


def test_tracking_numbers_have_carrier_shapes(shops: dict[str, dict[str, Any]]) -> None:
    shapes = {
        "顺丰速运": r"SF\d{13}",
        "中通快递": r"7\d{13}",
        "圆通速递": r"YT\d{13}",
        "韵达快递": r"43\d{13}",
        "京东快递": r"JD\d{13}",
        "日日顺物流": r"RRS\d{12}",
    }
    for b in shops.values():
        for o in b["orders"]:
            if o["shipment"]:
                ship = o["shipment"]
                assert re.fullmatch(shapes[ship["carrier"]], ship["tracking_no"])


def test_chats_are_consistent(shops: dict[str, dict[str, Any]]) -> None:
    for name, b in shops.items():
        orders = {o["id"]: o for o in b["orders"]}
        shoppers = {s["id"] for s in b["shoppers"]}
        for c in b["chats"]:
            if c["order_id"]:
                assert orders[c["order_id"]]["shopper_id"] == c["shopper_id"]
            assert c["shopper_id"] is None or c["shopper_id"] in shoppers
            assert 2 <= len(c["messages"]) <= 12 and c["agent"]
            assert c["rating"] is None or c["rating"] in (1, 2, 3, 4, 5)
            times = [_t(m["time"]) for m in c["messages"]]
            assert times == sorted(times) and times[0] == _t(c["started_at"])
            assert ANCHOR - timedelta(days=120) <= times[0] and times[-1] <= ANCHOR
            assert all(m["role"] in ("shopper", "agent") and m["text"] for m in c["messages"])
        openers = {
            next(m["text"] for m in c["messages"] if m["role"] == "shopper" and len(m["text"]) > 3)
            for c in b["chats"]
        }
        assert len(openers) >= 40, name
        assert len({t for c in b["chats"] for t in c["tags"]}) >= 10, name


def test_bad_answers_are_a_fifth_and_rated_low() -> None:
    for kit in KITS:
        chats = build_shop(kit, ANCHOR, 7)["chats"]
        bad = [c for c in chats if c["_bad"]]
        assert 0.12 <= len(bad) / len(chats) <= 0.3
        low = [c for c in bad if c["rating"] is None or c["rating"] <= 2]
        assert len(low) >= 0.85 * len(bad)
        good_rated = [c["rating"] for c in chats if not c["_bad"] and c["rating"]]
        assert sum(good_rated) / len(good_rated) > 4


def test_running_shoes_42_under_300(shops: dict[str, dict[str, Any]]) -> None:
    runners = [p for p in shops["stride"]["products"] if p["category"] == "跑鞋"]

    def at_42(p: dict[str, Any]) -> list[dict[str, Any]]:
        return [s for s in p["skus"] if s["options"].get("尺码") == "42"]

    fits = [p for p in runners if any(s["stock"] > 0 and s["price_fen"] <= 30000 for s in at_42(p))]
    pricey = [
        p for p in runners if any(s["stock"] > 0 and s["price_fen"] > 30000 for s in at_42(p))
    ]
    sold_out = [
        p
        for p in runners
        if at_42(p)
        and all(s["stock"] == 0 for s in at_42(p))
        and min(s["price_fen"] for s in p["skus"]) <= 30000
    ]
    assert len(fits) >= 3 and pricey and sold_out


def test_stride_catalog_and_policy(shops: dict[str, dict[str, Any]]) -> None:
    b = shops["stride"]
    categories = {p["category"] for p in b["products"]}
    assert {
        "跑鞋",
        "篮球鞋",
        "休闲鞋",
        "训练鞋",
        "卫衣",
        "T恤",
        "运动裤",
        "羽绒服",
        "袜子",
    } <= categories
    custom = [p for p in b["products"] if "定制款" in p["tags"]]
    assert len(custom) >= 3 and all("定制款不退不换" in p["description"] for p in custom)
    for p in b["products"]:
        assert p["attributes"]["尺码表"] and p["attributes"]["尺码偏差"]
    assert sum(1 for o in b["orders"] if o["extras"].get("运费险")) > len(b["orders"]) / 3
    for heading in ("发货与配送", "退换货", "运费险/运费", "售后流程", "发票", "尺码", "客服时间"):
        assert f"## {heading}" in b["policy"]


def test_volt_catalog_and_policy(shops: dict[str, dict[str, Any]]) -> None:
    b = shops["volt"]
    ranges = {
        "蓝牙耳机": (9900, 129900),
        "手机": (99900, 799900),
        "空调": (219900, 899900),
        "冰箱": (159900, 1299900),
    }
    for p in b["products"]:
        lo, hi = ranges.get(p["category"], (0, 10**9))
        assert all(lo <= s["price_fen"] <= hi for s in p["skus"]), p["title"]
        attrs = p["attributes"]
        if p["category"] in ("空调", "冰箱", "洗衣机", "电视", "热水器"):
            assert attrs["能效等级"] in ("一级", "二级", "三级", "四级", "五级")
            assert ("国补品类" in attrs) == (attrs["能效等级"] in ("一级", "二级"))
        assert attrs["保修"]
    grades = {p["attributes"].get("能效等级") for p in b["products"]} - {None}
    assert len(grades) >= 3
    assert any("national_subsidy" in o["extras"] for o in b["orders"])
    assert any("installation" in o["extras"] for o in b["orders"])
    for heading in (
        "发货与配送",
        "退换货",
        "运费险/运费",
        "售后流程",
        "发票",
        "保修",
        "安装",
        "国补",
        "价保",
        "客服时间",
    ):
        assert f"## {heading}" in b["policy"]
    assert "以当地政策为准" in b["policy"]


def test_orchard_catalog_and_policy(shops: dict[str, dict[str, Any]], out_dir: Path) -> None:
    """The held-out shop: fresh fruit with weights and grades, pre-sale dates, cold chain,
    shelf life and allergens on record; 坏果 cases among the after-sales; no 国补 anywhere."""
    b = shops["orchard"]
    presale = {p["id"] for p in b["products"] if "预售" in p["tags"]}
    assert presale and all(
        "发货时间" in p["attributes"] for p in b["products"] if p["id"] in presale
    )
    for o in b["orders"]:
        if any(line["product_id"] in presale for line in o["lines"]):
            assert o["status"] in ("待付款", "待发货", "已取消"), o["id"]
            assert o["shipment"] is None, o["id"]
    assert all("保质期" in p["attributes"] for p in b["products"] if p["category"] != "礼盒")
    assert sum("过敏原" in p["attributes"] for p in b["products"]) >= 4
    assert any("斤装" in s["options"].get("规格", "") for p in b["products"] for s in p["skus"])
    assert any(s["stock"] == 0 for p in b["products"] for s in p["skus"])
    reasons = [o["extras"]["after_sale"]["reason"] for o in b["orders"] if o["status"] == "售后中"]
    assert sum(r.startswith("坏果") for r in reasons) >= 10
    assert not any("national_subsidy" in o["extras"] for o in b["orders"])
    assert "不参与国家以旧换新补贴" in b["policy"] and "签收后 24 小时内" in b["policy"]
    policy = yaml.safe_load((out_dir / "orchard" / "policy.yaml").read_text(encoding="utf-8"))
    assert policy["subsidy"]["enabled"] is False and policy["exchange"]["per_order"] == 0
    tags = {t for c in b["chats"] for t in c["tags"]}
    assert {"坏果", "保质期", "预售", "过敏"} <= tags
