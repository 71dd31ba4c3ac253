"""Write the demo shops (stride, volt, and the held-out orchard) as shop bundles; see
docs/shop-bundle.md.

Everything is derived from `random.Random` seeded with the shop id and `seed`, and every time
from `anchor` (read on the shop's clock, Asia/Shanghai), so the same (anchor, seed) always
produces byte-identical files.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from importlib.resources import files
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from xiaoer.demo import (
    catalog_orchard,
    catalog_stride,
    catalog_volt,
    chat_orchard,
    chat_stride,
    chat_volt,
    shop_orchard,
    shop_stride,
    shop_volt,
    texts_orchard,
    texts_stride,
    texts_volt,
)
from xiaoer.demo.chat_engine import Topic, World, build_chats
from xiaoer.demo.common import dump_line
from xiaoer.demo.orders import Catalog, Rules, build_orders
from xiaoer.demo.people import make_shoppers

SHOPPERS = 360
ORDERS = 1640  # besides U00001's demo orders
CHATS = 240
MIX = {
    "待付款": 25,
    "待发货": 60,
    "已发货": 90,
    "已签收": 80,
    "售后中": 55,
    "已取消": 120,
}  # rest 已完成

Products = list[dict[str, Any]]


@dataclass(frozen=True)
class ShopKit:
    """Everything shop-specific the generator needs."""

    shop: dict[str, Any]
    demo_shopper: dict[str, Any]
    build_products: Callable[[random.Random], tuple[Products, dict[str, int]]]
    rules: Callable[[Catalog, datetime], Rules]
    policy_md: Callable[[Products], str]
    faq_entries: Callable[[Products], list[dict[str, Any]]]
    topics: list[tuple[Topic, int]]
    facts: Callable[[Products], dict[str, Any]]
    agents: list[str]
    levels: list[tuple[str, int]]
    female_share: float


KITS = [
    ShopKit(
        shop_stride.SHOP,
        shop_stride.DEMO_SHOPPER,
        catalog_stride.build_products,
        shop_stride.StrideRules,
        texts_stride.policy_md,
        texts_stride.faq_entries,
        chat_stride.TOPICS,
        lambda _products: texts_stride.CHAT_FACTS,
        shop_stride.AGENTS,
        [("普通会员", 50), ("银卡会员", 25), ("金卡会员", 17), ("钻石会员", 8)],
        0.48,
    ),
    ShopKit(
        shop_volt.SHOP,
        shop_volt.DEMO_SHOPPER,
        catalog_volt.build_products,
        shop_volt.VoltRules,
        texts_volt.policy_md,
        texts_volt.faq_entries,
        chat_volt.TOPICS,
        texts_volt.chat_facts,
        shop_volt.AGENTS,
        [("普通会员", 55), ("银卡会员", 22), ("金卡会员", 15), ("PLUS会员", 8)],
        0.42,
    ),
    # The held-out shop: generated like the others, only ever measured (docs/scenarios.md).
    ShopKit(
        shop_orchard.SHOP,
        shop_orchard.DEMO_SHOPPER,
        catalog_orchard.build_products,
        shop_orchard.OrchardRules,
        texts_orchard.policy_md,
        texts_orchard.faq_entries,
        chat_orchard.TOPICS,
        texts_orchard.chat_facts,
        shop_orchard.AGENTS,
        [("普通会员", 58), ("银卡会员", 24), ("金卡会员", 13), ("黑金会员", 5)],
        0.62,
    ),
]


def in_shop_time(anchor: datetime, zone: str) -> datetime:
    """The same instant on the shop's clock (Shanghai is UTC+8 all year, so no tzdata needed)."""
    try:
        return anchor.astimezone(ZoneInfo(zone))
    except ZoneInfoNotFoundError:
        if zone == "Asia/Shanghai":
            return anchor.astimezone(timezone(timedelta(hours=8), zone))
        return anchor


def build_shop(kit: ShopKit, anchor: datetime, seed: int) -> dict[str, Any]:
    """One shop's bundle in memory (times as datetimes; chats carry a private `_bad` flag)."""
    anchor = in_shop_time(anchor, kit.shop["timezone"])
    rng = random.Random(f"{kit.shop['id']}:{seed}")
    products, weights = kit.build_products(rng)
    shoppers = make_shoppers(rng, SHOPPERS, kit.demo_shopper, kit.levels, kit.female_share)
    orders = build_orders(
        rng, kit.rules(Catalog(products, weights), anchor), anchor, shoppers, MIX, ORDERS
    )
    world = World(anchor, products, shoppers, orders, kit.agents, kit.facts(products))
    return {
        "shop": kit.shop,
        "products": products,
        "shoppers": shoppers,
        "orders": orders,
        "policy": kit.policy_md(products),
        "policy_yaml": (files("xiaoer.demo") / f"policy_{kit.shop['id']}.yaml").read_text("utf-8"),
        "faq": kit.faq_entries(products),
        "chats": build_chats(rng, world, kit.topics, CHATS),
    }


def _jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(dump_line(row) + "\n" for row in rows)


AS_DOCX = {
    "stride": "group-custom.md",
    "volt": "extended-warranty.md",
    "orchard": "cold-chain-claims.md",
}
"""One merchant document per shop is shipped as Word, so the demo ingests every format."""


def write_docs(shop_id: str, path: Path) -> None:
    """The shop's merchant documents (Markdown, HTML, one as DOCX) under `path/docs/`."""
    source = files("xiaoer.demo") / "docs" / shop_id
    if not source.is_dir():
        return
    out = path / "docs"
    out.mkdir(parents=True, exist_ok=True)
    for doc in source.iterdir():
        text = doc.read_text("utf-8")
        if doc.name == AS_DOCX.get(shop_id):
            markdown_to_docx(text, out / f"{Path(doc.name).stem}.docx")
        else:
            (out / doc.name).write_text(text, encoding="utf-8", newline="\n")


def markdown_to_docx(text: str, target: Path) -> None:
    """Headings become Word heading styles, list items bullets, the rest paragraphs."""
    import docx

    document = docx.Document()
    for line in text.splitlines():
        line = line.rstrip()
        if not line:
            continue
        level = len(line) - len(line.lstrip("#"))
        if level and line[level : level + 1] == " ":
            document.add_heading(line[level:].strip(), level=min(level - 1, 8))
        elif line.lstrip().startswith(("- ", "* ")):
            document.add_paragraph(line.lstrip()[2:].replace("**", ""), style="List Bullet")
        else:
            document.add_paragraph(line.replace("**", ""))
    document.save(str(target))


def write_bundle(bundle: dict[str, Any], path: Path) -> Path:
    """Write an in-memory bundle as the eight bundle files and its `docs/` folder."""
    path.mkdir(parents=True, exist_ok=True)
    write_docs(bundle["shop"]["id"], path)
    files = {
        "shop.yaml": yaml.safe_dump(
            bundle["shop"], allow_unicode=True, sort_keys=False, width=4096
        ),
        "products.jsonl": _jsonl(bundle["products"]),
        "shoppers.jsonl": _jsonl(bundle["shoppers"]),
        "orders.jsonl": _jsonl(bundle["orders"]),
        "policy.md": bundle["policy"],
        "policy.yaml": bundle["policy_yaml"],
        "faq.jsonl": _jsonl(bundle["faq"]),
        "chats.jsonl": _jsonl(bundle["chats"]),
    }
    for name, text in files.items():
        (path / name).write_text(text, encoding="utf-8", newline="\n")
    return path


def write_demo_bundles(out_dir: Path, *, anchor: datetime, seed: int = 7) -> list[Path]:
    """Write the demo shop bundles under out_dir (out_dir/stride, out_dir/volt, out_dir/orchard);
    return their paths."""
    if anchor.tzinfo is None or anchor.utcoffset() is None:
        raise ValueError("anchor must be timezone-aware")
    out_dir = Path(out_dir)
    return [write_bundle(build_shop(kit, anchor, seed), out_dir / kit.shop["id"]) for kit in KITS]
