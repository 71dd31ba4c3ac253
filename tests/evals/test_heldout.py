"""The held-out suite: its scenarios match the generated orchard data, and no product code
names anything of the held-out shop (docs/scenarios.md: measured, never tuned on)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from xiaoer.demo.generate import KITS, build_shop
from xiaoer.evals.scenario import ANCHOR, SEPARATE_SUITES, load_scenarios

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "xiaoer"
ORDER_ID = re.compile(r"SO\d{10}")
OTHERS_ALLOWED = ("foreign_order", "prompt_injection")
"""Categories whose shopper may name someone else's order (a foreign-order one always does)."""


@pytest.fixture(scope="module")
def orchard() -> dict[str, Any]:
    kit = next(k for k in KITS if k.shop["id"] == "orchard")
    return build_shop(kit, ANCHOR, 7)


def test_heldout_is_its_own_suite_and_only_orchard() -> None:
    assert "heldout" in SEPARATE_SUITES
    heldout = load_scenarios("heldout", root=ROOT)
    assert len(heldout) >= 60
    assert {s.shop for s in heldout} == {"orchard"}
    tuned = load_scenarios("all", root=ROOT)
    assert not {s.id for s in heldout} & {s.id for s in tuned}
    assert "orchard" not in {s.shop for s in tuned}
    # every category of the tuned suites, plus the shop's own
    assert {s.category for s in tuned} | {"damage_claim", "shelf_life", "shipping_delay"} <= {
        s.category for s in heldout
    }


def test_heldout_orders_exist_and_belong_to_the_shopper(orchard: dict[str, Any]) -> None:
    orders = {o["id"]: o for o in orchard["orders"]}
    shoppers = {s["id"] for s in orchard["shoppers"]}
    for s in load_scenarios("heldout", root=ROOT):
        assert s.shopper in shoppers, s.id
        text = " ".join([s.opening, *s.followups, json.dumps(s.knows, ensure_ascii=False)])
        for oid in ORDER_ID.findall(text):
            assert oid in orders, (s.id, oid)
            if s.category == "foreign_order":
                assert orders[oid]["shopper_id"] != s.shopper, (s.id, oid)
            elif s.category not in OTHERS_ALLOWED:
                assert orders[oid]["shopper_id"] == s.shopper, (s.id, oid)


def _product_code() -> list[Path]:
    """Everything under src/xiaoer except the demo generator, its setup and the eval harness."""
    skip = {SRC / "demo", SRC / "evals"}
    return [
        p
        for p in SRC.rglob("*.py")
        if not any(parent in skip for parent in p.parents) and p.name != "demo_setup.py"
    ]


def test_no_product_code_names_the_heldout_shop(orchard: dict[str, Any]) -> None:
    words = {orchard["shop"]["name"], "山野鲜果"}
    for product in orchard["products"]:
        words.add(product["title"])
        words |= {v for sku in product["skus"] for v in sku["options"].values() if len(v) >= 3}
    words |= {s.id for s in load_scenarios("heldout", root=ROOT)}
    hits = [
        f"{path.relative_to(ROOT)}: {word}"
        for path in _product_code()
        for word in sorted(words)
        if word in path.read_text(encoding="utf-8")
    ]
    assert not hits, hits


def test_the_dev_suite_is_counted_apart_and_its_orders_are_the_shoppers() -> None:
    """`dev` (docs/scenarios.md) runs on the tuned shops and is not part of `all`; each order a
    scenario names exists and is its shopper's, with the status the scenario is about."""
    assert "dev" in SEPARATE_SUITES
    dev = load_scenarios("dev", root=ROOT)
    assert {s.shop for s in dev} <= {"stride", "volt"} and len(dev) >= 6
    assert not {s.id for s in dev} & {s.id for s in load_scenarios("all", root=ROOT)}
    shops = {k.shop["id"]: build_shop(k, ANCHOR, 7) for k in KITS if k.shop["id"] != "orchard"}
    status = {"damage_claim": {"已签收", "已完成"}, "shipping_delay": {"待发货"}}
    for s in dev:
        orders = {o["id"]: o for o in shops[s.shop]["orders"]}
        oid = s.knows["order_id"]
        assert orders[oid]["shopper_id"] == s.shopper, (s.id, oid)
        assert orders[oid]["status"] in status[s.category], (s.id, oid)
