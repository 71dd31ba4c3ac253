"""Catalog files (CSV, JSON, JSONL, XLSX) → products with SKUs; products → knowledge passages.

A catalog file has one row per SKU (or per product). Columns are matched by name, Chinese or
English; option columns (颜色, 尺码, 规格 …) become SKU options; every other unknown column is
kept as a product attribute, never dropped. Bad rows are reported by row number and skipped.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xiaoer.domain.errors import BadInput
from xiaoer.domain.models import Product, Sku
from xiaoer.domain.money import parse_yuan, yuan
from xiaoer.knowledge.index import Passage

CATALOG_SUFFIXES = (".csv", ".json", ".jsonl", ".xlsx")

COLUMNS: dict[str, tuple[str, ...]] = {
    "product_id": ("product_id", "商品id", "商品编号", "商品编码", "货号", "spu", "id"),
    "sku_id": ("sku_id", "sku", "sku编码", "sku编号", "规格编码"),
    "title": ("title", "name", "商品名称", "商品标题", "名称", "标题", "品名"),
    "category": ("category", "类目", "分类", "品类"),
    "brand": ("brand", "品牌"),
    "description": ("description", "desc", "商品描述", "描述", "详情", "商品详情", "卖点"),
    "price": ("price", "售价", "价格", "单价", "price_yuan"),
    "price_fen": ("price_fen",),
    "stock": ("stock", "库存", "库存数量", "inventory"),
    "tags": ("tags", "标签"),
}
OPTION_NAMES = frozenset(
    "颜色 尺码 尺寸 规格 型号 版本 容量 存储容量 套餐 款式 匹数 color colour size variant".split()
)


@dataclass
class CatalogRead:
    products: list[Product]
    problems: list[str] = field(default_factory=list)
    rows: int = 0


def read_catalog(path: Path) -> CatalogRead:
    suffix = path.suffix.lower()
    if suffix not in CATALOG_SUFFIXES:
        raise BadInput(
            f"{path.name}: unsupported catalog type {suffix!r} "
            f"(supported: {', '.join(CATALOG_SUFFIXES)})"
        )
    try:
        if suffix == ".csv":
            raw = path.read_bytes()
            text = raw.decode("utf-8-sig") if not raw.startswith(b"\xff\xfe") else raw.decode()
            rows: list[dict[str, Any]] = list(csv.DictReader(io.StringIO(text)))
        elif suffix == ".xlsx":
            rows = _xlsx_rows(path)
        elif suffix == ".jsonl":
            rows = [
                json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()
            ]
        else:
            data = json.loads(path.read_text("utf-8"))
            rows = data.get("products", data) if isinstance(data, dict) else data
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, csv.Error) as exc:
        raise BadInput(f"{path.name}: could not read ({exc})") from exc
    if not isinstance(rows, list):
        raise BadInput(f"{path.name}: expected a list of products")
    return products_from_rows(rows)


def _xlsx_rows(path: Path) -> list[dict[str, Any]]:
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True, data_only=True)
    sheet = book.worksheets[0]
    values = list(sheet.iter_rows(values_only=True))
    book.close()
    if not values:
        return []
    header = [str(h).strip() if h is not None else "" for h in values[0]]
    return [
        {h: v for h, v in zip(header, row, strict=False) if h and v is not None}
        for row in values[1:]
        if any(v is not None for v in row)
    ]


def _column(key: str) -> str | None:
    k = key.strip().lower()
    for name, aliases in COLUMNS.items():
        if k in aliases:
            return name
    return None


def products_from_rows(rows: Iterable[dict[str, Any]]) -> CatalogRead:
    """Group SKU rows by product id; a JSON row may also carry a `skus` list and an
    `attributes` object (the bundle's products.jsonl shape)."""
    out: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    count = 0
    for number, row in enumerate(rows, start=2):
        count += 1
        if not isinstance(row, dict):
            problems.append(f"row {number}: not an object")
            continue
        known: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        options: dict[str, str] = {}
        for key, value in row.items():
            if value is None or value == "":
                continue
            name = _column(str(key))
            if name is not None:
                known[name] = value
            elif str(key).strip().lower() in OPTION_NAMES:
                options[str(key).strip()] = str(value).strip()
            elif key not in ("skus", "attributes", "options"):
                extra[str(key).strip()] = value
        if isinstance(row.get("options"), dict):
            options.update({str(k): str(v) for k, v in row["options"].items()})
        pid = str(known.get("product_id") or "").strip()
        title = str(known.get("title") or "").strip()
        if not pid or not title:
            problems.append(f"row {number}: needs a product id and a title")
            continue
        price: int | None = None
        if "price" in known or "price_fen" in known:
            try:
                price = (
                    int(known["price_fen"])
                    if "price_fen" in known
                    else parse_yuan(str(known["price"]))
                )
                stock = int(float(known.get("stock") or 0))
            except ValueError:
                problems.append(f"row {number}: bad price or stock")
                continue
        product = out.setdefault(
            pid,
            {
                "id": pid,
                "title": title,
                "category": str(known.get("category") or ""),
                "brand": str(known.get("brand") or ""),
                "description": str(known.get("description") or ""),
                "attributes": {},
                "tags": _tags(known.get("tags")),
                "skus": [],
            },
        )
        if isinstance(row.get("attributes"), dict):
            product["attributes"].update(row["attributes"])
        product["attributes"].update(extra)
        for sku in row.get("skus") or []:
            try:
                product["skus"].append(
                    Sku(
                        str(sku["id"]),
                        pid,
                        {str(k): str(v) for k, v in (sku.get("options") or {}).items()},
                        int(sku["price_fen"]),
                        int(sku.get("stock", 0)),
                    )
                )
            except (KeyError, TypeError, ValueError):
                problems.append(f"row {number}: a SKU needs id and price_fen")
        if price is not None:
            sku_id = str(known.get("sku_id") or f"{pid}-{len(product['skus']) + 1}")
            product["skus"].append(Sku(sku_id, pid, options, price, stock))
    products = [
        Product(
            id=p["id"],
            title=p["title"],
            category=p["category"],
            brand=p["brand"],
            description=p["description"],
            attributes=p["attributes"],
            skus=tuple(p["skus"]),
            tags=tuple(p["tags"]),
        )
        for p in out.values()
    ]
    return CatalogRead(products, problems, count)


def _tags(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, str):
        return [t for t in re.split(r"[,，;；|/\s]+", value) if t]
    return []


def product_passages(product: Product) -> list[Passage]:
    """The catalog facts of one product, each linked to the field it came from: an overview
    (title, category, brand, description, prices, options) and one passage per attribute."""
    low, high = product.price_range
    price = yuan(low) if low == high else f"{yuan(low)}-{yuan(high)}"
    options: dict[str, list[str]] = {}
    for sku in product.skus:
        for k, v in sku.options.items():
            options.setdefault(k, [])
            if v not in options[k]:
                options[k].append(v)
    lines = [
        f"{product.title}（{product.brand} · {product.category}）",
        product.description,
        f"价格：{price}" if product.skus else "",
        *(f"{k}：{'、'.join(v)}" for k, v in options.items()),
    ]
    out = [
        Passage(
            id=f"product:{product.id}",
            source_id="catalog",
            kind="product",
            title=product.title,
            text="\n".join(line for line in lines if line),
            product_id=product.id,
            field="description",
        )
    ]
    for key, value in product.attributes.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        out.append(
            Passage(
                id=f"product:{product.id}:{key}",
                source_id="catalog",
                kind="product",
                title=product.title,
                text=f"{key}：{text}",
                product_id=product.id,
                field=f"attributes.{key}",
            )
        )
    return out
