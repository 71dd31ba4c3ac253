"""Read, validate and import a shop bundle (docs/shop-bundle.md).

`load_bundle` checks every file and every cross-reference first and raises `BundleInvalid`
with all the problems it found (file, line, field); `import_bundle` then writes the shop in
one transaction, replacing an earlier import of the same shop id. Nothing is half-imported.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.commerce.bundle_checks import check_references
from xiaoer.commerce.bundle_schema import (
    ChatIn,
    FaqIn,
    OrderIn,
    Problem,
    ProductIn,
    ShopFile,
    ShopperIn,
)
from xiaoer.domain.errors import BadInput
from xiaoer.policy.load import check_policy
from xiaoer.store.models import (
    ChatTranscriptRow,
    FaqRow,
    OrderRow,
    ProductRow,
    ShopperRow,
    ShopRow,
    SkuRow,
)
from xiaoer.store.repositories import (
    AuditRepository,
    HandoffRepository,
    ShopRepository,
    new_stamp,
)

REQUIRED = ("shop.yaml", "products.jsonl", "shoppers.jsonl", "orders.jsonl", "policy.md")
OPTIONAL = ("faq.jsonl", "chats.jsonl")
KEPT = ("api_key_hash", "api_key_hint", "api_key_issued_at")
"""Shop fields a re-import keeps: the merchant's API key."""


class BundleInvalid(BadInput):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems[:50])
        more = f"\n  … and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"shop bundle has {len(problems)} problem(s):\n{lines}{more}")


@dataclass
class Bundle:
    shop: ShopFile
    policy_md: str
    policy: dict[str, Any] | None = None
    """policy.yaml, validated (None: the shop runs on the default policy)."""
    products: list[ProductIn] = field(default_factory=list)
    shoppers: list[ShopperIn] = field(default_factory=list)
    orders: list[OrderIn] = field(default_factory=list)
    faq: list[FaqIn] = field(default_factory=list)
    chats: list[ChatIn] = field(default_factory=list)


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _problems(file: str, line: int, err: ValidationError) -> Iterator[Problem]:
    for e in err.errors():
        yield Problem(file, line, _loc(tuple(e["loc"])) or "(record)", e["msg"])


def _read_jsonl[M: BaseModel](
    path: Path, model: type[M], problems: list[Problem]
) -> list[tuple[int, M]]:
    out: list[tuple[int, M]] = []
    seen: dict[str, int] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        problems.append(Problem(path.name, 0, "", "not UTF-8 text"))
        return out
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            problems.append(Problem(path.name, number, "", f"not valid JSON ({exc.msg})"))
            continue
        try:
            item = model.model_validate(data)
        except ValidationError as exc:
            problems.extend(_problems(path.name, number, exc))
            continue
        key = getattr(item, "id", None)
        if isinstance(key, str):
            if key in seen:
                problems.append(
                    Problem(
                        path.name, number, "id", f"duplicate id {key!r} (first on line {seen[key]})"
                    )
                )
                continue
            seen[key] = number
        out.append((number, item))
    return out


def _read_shop(path: Path, problems: list[Problem]) -> ShopFile | None:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        problems.append(Problem("shop.yaml", 0, "", f"not valid YAML ({exc})"))
        return None
    if not isinstance(data, dict):
        problems.append(Problem("shop.yaml", 0, "", "must be a mapping of fields"))
        return None
    try:
        return ShopFile.model_validate(data)
    except ValidationError as exc:
        problems.extend(_problems("shop.yaml", 0, exc))
        return None


def load_bundle(path: Path) -> Bundle:
    """Read and validate a whole bundle; raise `BundleInvalid` listing every problem."""
    if not path.is_dir():
        raise BadInput(f"not a folder: {str(path)!r}")
    problems: list[Problem] = [
        Problem(name, 0, "", "required file is missing")
        for name in REQUIRED
        if not (path / name).is_file()
    ]
    if problems:
        raise BundleInvalid(problems)
    shop = _read_shop(path / "shop.yaml", problems)
    products = _read_jsonl(path / "products.jsonl", ProductIn, problems)
    shoppers = _read_jsonl(path / "shoppers.jsonl", ShopperIn, problems)
    orders = _read_jsonl(path / "orders.jsonl", OrderIn, problems)
    faq = _read_jsonl(path / "faq.jsonl", FaqIn, problems) if (path / "faq.jsonl").is_file() else []
    chats = (
        _read_jsonl(path / "chats.jsonl", ChatIn, problems)
        if (path / "chats.jsonl").is_file()
        else []
    )
    policy = (path / "policy.md").read_text(encoding="utf-8", errors="replace")
    if not policy.strip():
        problems.append(Problem("policy.md", 0, "", "is empty"))
    rules = _read_policy(path / "policy.yaml", problems)
    problems.extend(check_references(products, shoppers, orders, chats))
    if problems or shop is None:
        raise BundleInvalid(problems)
    return Bundle(
        shop=shop,
        policy_md=policy,
        policy=rules,
        products=[p for _, p in products],
        shoppers=[s for _, s in shoppers],
        orders=[o for _, o in orders],
        faq=[f for _, f in faq],
        chats=[c for _, c in chats],
    )


def _read_policy(path: Path, problems: list[Problem]) -> dict[str, Any] | None:
    """The optional policy.yaml, checked field by field (xiaoer.policy.schema)."""
    if not path.is_file():
        return None
    policy, found = check_policy(path.read_text(encoding="utf-8", errors="replace"))
    problems.extend(Problem("policy.yaml", p.line, p.field, p.message) for p in found)
    return None if policy is None else policy.model_dump(mode="json")


def _dump(model: BaseModel) -> Any:
    return model.model_dump(mode="json")


async def import_bundle(session: AsyncSession, bundle: Bundle, now: datetime) -> dict[str, int]:
    """Write the bundle's shop, replacing any earlier import of it. Caller commits."""
    shop_id = bundle.shop.id
    earlier = await session.get(ShopRow, shop_id)
    kept = {name: getattr(earlier, name) for name in KEPT} if earlier is not None else {}
    closed = await _close_handoffs(session, shop_id, now) if earlier is not None else 0
    if earlier is not None:
        session.expunge(earlier)
    await ShopRepository(session).delete(shop_id)
    await session.flush()
    s = bundle.shop
    session.add(
        ShopRow(
            id=shop_id,
            name=s.name,
            persona=s.persona,
            timezone=s.timezone,
            working_hours=s.working_hours,
            description=s.description,
            policy_md=bundle.policy_md,
            policy=bundle.policy,
            **kept,
            imported_at=now,
            catalog_stamp=new_stamp(),
        )
    )
    await session.flush()
    for p in bundle.products:
        session.add(
            ProductRow(
                shop_id=shop_id,
                id=p.id,
                title=p.title,
                category=p.category,
                brand=p.brand,
                description=p.description,
                attributes=p.attributes,
                tags=p.tags,
            )
        )
    for sh in bundle.shoppers:
        session.add(
            ShopperRow(
                shop_id=shop_id,
                id=sh.id,
                name=sh.name,
                phone=sh.phone,
                level=sh.level,
                addresses=[_dump(a) for a in sh.addresses],
                extras=sh.extras,
            )
        )
    await session.flush()
    for p in bundle.products:
        for sku in p.skus:
            session.add(
                SkuRow(
                    shop_id=shop_id,
                    id=sku.id,
                    product_id=p.id,
                    options=sku.options,
                    price_fen=sku.price_fen,
                    stock=sku.stock,
                    status=sku.status,
                    restock_date=sku.restock_date,
                )
            )
    for o in bundle.orders:
        session.add(_order_row(shop_id, o))
    for f in bundle.faq:
        session.add(
            FaqRow(shop_id=shop_id, id=f.id, question=f.question, answer=f.answer, tags=f.tags)
        )
    for c in bundle.chats:
        session.add(
            ChatTranscriptRow(
                shop_id=shop_id,
                id=c.id,
                shopper_id=c.shopper_id,
                order_id=c.order_id,
                agent=c.agent,
                started_at=c.started_at,
                rating=c.rating,
                tags=c.tags,
                messages=[_dump(m) for m in c.messages],
            )
        )
    await session.flush()
    counts = {
        "products": len(bundle.products),
        "skus": sum(len(p.skus) for p in bundle.products),
        "shoppers": len(bundle.shoppers),
        "orders": len(bundle.orders),
        "faq": len(bundle.faq),
        "chats": len(bundle.chats),
    }
    return counts | ({"handoffs_closed": closed} if closed else {})


async def _close_handoffs(session: AsyncSession, shop_id: str, now: datetime) -> int:
    """A re-import replaces the shop's conversations, so the handoffs waiting in them (queued,
    or taken by a human) are closed, each with an audit entry that outlives them: a human
    must not find a conversation gone from the queue with no word of why."""
    audit = AuditRepository(session, shop_id)
    closed = await HandoffRepository(session, shop_id).close_open(now)
    for row, was in closed:
        await audit.append(
            "handoff_closed",
            "import",
            now,
            conversation_id=row.conversation_id,
            detail={
                "handoff_id": row.id,
                "was": was,
                "agent": row.agent,
                "reason": row.reason,
                "shopper_id": row.shopper_id,
                "why": "店铺重新导入，会话已被替换 / shop re-imported: its conversations were replaced",
            },
        )
    return len(closed)


def _order_row(shop_id: str, o: OrderIn) -> OrderRow:
    return OrderRow(
        shop_id=shop_id,
        id=o.id,
        shopper_id=o.shopper_id,
        status=o.status,
        created_at=o.created_at,
        paid_at=o.paid_at,
        shipped_at=o.shipped_at,
        delivered_at=o.delivered_at,
        completed_at=o.completed_at,
        cancelled_at=o.cancelled_at,
        lines=[_dump(line) for line in o.lines],
        total_fen=o.total_fen,
        shipping_fee_fen=o.shipping_fee_fen,
        discount_fen=o.discount_fen,
        pay_fen=o.pay_fen,
        payment_method=o.payment_method,
        address=_dump(o.address),
        shipment=_dump(o.shipment) if o.shipment else None,
        remark=o.remark,
        extras=o.extras,
    )
