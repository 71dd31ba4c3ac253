"""A tiny, hand-written shop bundle for unit tests (the demo generator makes the big ones)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

T0 = "2026-11-10T10:00:00+08:00"
ADDR = {
    "name": "王芳",
    "phone": "13812345678",
    "province": "浙江省",
    "city": "杭州市",
    "district": "西湖区",
    "detail": "文三路 100 号",
}


_CODES = {"黑": "BLK", "白": "WHT"}


def _sku(pid: str, color: str, size: str, price: int, stock: int) -> dict[str, Any]:
    return {
        "id": f"{pid}-{_CODES[color]}-{size}",
        "options": {"颜色": color, "尺码": size},
        "price_fen": price,
        "stock": stock,
    }


PRODUCTS = [
    {
        "id": "P1",
        "title": "疾风 3 男子缓震跑鞋",
        "category": "跑鞋",
        "brand": "步履",
        "attributes": {"鞋面材质": "工程网布", "尺码偏差": "偏小半码"},
        "skus": [_sku("P1", "黑", "42", 29900, 5), _sku("P1", "黑", "43", 29900, 0)],
    },
    {
        "id": "P2",
        "title": "云跃 Pro 碳板竞速跑鞋",
        "category": "跑鞋",
        "skus": [_sku("P2", "白", "42", 89900, 3)],
    },
    {
        "id": "P3",
        "title": "城市休闲帆布鞋",
        "category": "休闲鞋",
        "skus": [_sku("P3", "白", "42", 15900, 0), _sku("P3", "白", "41", 15900, 8)],
    },
]

SHOPPERS = [
    {"id": "U1", "name": "王芳", "phone": "13812345678", "addresses": [ADDR]},
    {"id": "U2", "name": "李雷", "phone": "13900001111", "addresses": [ADDR | {"name": "李雷"}]},
]


def _line(sku: str, pid: str, title: str, price: int, qty: int = 1) -> dict[str, Any]:
    return {
        "sku_id": sku,
        "product_id": pid,
        "title": title,
        "options": {},
        "unit_price_fen": price,
        "quantity": qty,
    }


ORDERS = [
    {
        "id": "SO1001",
        "shopper_id": "U1",
        "status": "已发货",
        "created_at": T0,
        "paid_at": "2026-11-10T10:01:00+08:00",
        "shipped_at": "2026-11-11T09:00:00+08:00",
        "lines": [_line("P1-BLK-42", "P1", "疾风 3 男子缓震跑鞋", 29900)],
        "total_fen": 29900,
        "pay_fen": 29900,
        "address": ADDR,
        "shipment": {
            "carrier": "顺丰速运",
            "tracking_no": "SF1234567890",
            "events": [
                {"time": "2026-11-11T09:00:00+08:00", "status": "已揽收", "detail": "顺丰已揽收"},
                {
                    "time": "2026-11-12T08:00:00+08:00",
                    "status": "运输中",
                    "detail": "快件已到达【杭州转运中心】",
                },
            ],
        },
    },
    {
        "id": "SO1002",
        "shopper_id": "U1",
        "status": "待发货",
        "created_at": "2026-11-19T10:00:00+08:00",
        "paid_at": "2026-11-19T10:01:00+08:00",
        "lines": [_line("P3-WHT-41", "P3", "城市休闲帆布鞋", 15900, 2)],
        "total_fen": 31800,
        "discount_fen": 1000,
        "pay_fen": 30800,
        "address": ADDR,
    },
    {
        "id": "SO2001",
        "shopper_id": "U2",
        "status": "已签收",
        "created_at": T0,
        "paid_at": T0,
        "shipped_at": "2026-11-11T09:00:00+08:00",
        "delivered_at": "2026-11-13T09:00:00+08:00",
        "lines": [_line("P2-WHT-42", "P2", "云跃 Pro 碳板竞速跑鞋", 89900)],
        "total_fen": 89900,
        "pay_fen": 89900,
        "address": ADDR | {"name": "李雷"},
        "shipment": {"carrier": "中通快递", "tracking_no": "7300001", "events": []},
    },
]

FAQ = [{"id": "F1", "question": "支持七天无理由吗？", "answer": "支持，定制款除外。"}]
CHATS = [
    {
        "id": "C1",
        "shopper_id": "U1",
        "order_id": "SO1001",
        "agent": "小美",
        "started_at": T0,
        "rating": 5,
        "messages": [
            {"role": "shopper", "text": "到哪了", "time": T0},
            {"role": "agent", "text": "亲，已到杭州转运中心", "time": T0},
        ],
    }
]


def write_bundle(
    folder: Path,
    *,
    shop_id: str = "mini",
    policy: str | None = None,
    **overrides: list[dict[str, Any]],
) -> Path:
    """Write the mini bundle; `policy` is an optional policy.yaml text."""
    folder.mkdir(parents=True, exist_ok=True)
    shop = {"id": shop_id, "name": "迷你运动店", "persona": "你是小迷，说话亲切。"}
    (folder / "shop.yaml").write_text(yaml.safe_dump(shop, allow_unicode=True), encoding="utf-8")
    (folder / "policy.md").write_text("# 售后\n签收后 7 天无理由退货。\n", encoding="utf-8")
    files = {
        "products": PRODUCTS,
        "shoppers": SHOPPERS,
        "orders": ORDERS,
        "faq": FAQ,
        "chats": CHATS,
    }
    files |= overrides
    if policy is not None:
        (folder / "policy.yaml").write_text(policy, encoding="utf-8")
    for name, rows in files.items():
        text = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n"
        (folder / f"{name}.jsonl").write_text(text, encoding="utf-8")
    return folder
