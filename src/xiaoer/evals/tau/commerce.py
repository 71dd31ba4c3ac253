"""The τ world behind xiaoer's `CommerceBackend` port: τ records read as xiaoer's domain types
(dollars as integer cents in the `_fen` fields), and a confirmed change applied by running the τ
tool it names, once per idempotency key."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from xiaoer.commerce.base import ProductHit, ProductQuery
from xiaoer.commerce.memory import MemoryLedger
from xiaoer.commerce.search import search
from xiaoer.domain.models import (
    Address,
    Change,
    Order,
    OrderLine,
    OrderStatus,
    PaymentMethod,
    Product,
    ServiceRecord,
    Shopper,
    Sku,
)
from xiaoer.evals.tau.world import TauWorld

STATUS = {
    "pending": OrderStatus.PENDING_SHIPMENT,
    "pending (item modified)": OrderStatus.PENDING_SHIPMENT,
    "processed": OrderStatus.SHIPPED,
    "delivered": OrderStatus.DELIVERED,
    "cancelled": OrderStatus.CANCELLED,
}
"""τ statuses as xiaoer's states; the rest (return / exchange requested) are 售后中. That an
item-modified order takes no more changes is the policy's `item_change.locks_order`, read from
the ledger of changes applied."""
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
"""τ orders carry no dates."""


def fen(dollars: float) -> int:
    """Cents, kept in xiaoer's integer minor unit."""
    return round(float(dollars) * 100)


def method_label(m: dict[str, Any]) -> str:
    if m["source"] == "credit_card":
        return f"{m['id']} (credit card {m.get('brand', '')} ending {m.get('last_four', '')})"
    if m["source"] == "gift_card":
        return f"{m['id']} (gift card, balance ${m.get('balance', 0)})"
    return f"{m['id']} ({m['source']})"


def payment_method(m: dict[str, Any]) -> PaymentMethod:
    """A gift card is stored value (its balance is what it can pay); cards and PayPal are not."""
    balance = fen(m.get("balance", 0)) if m["source"] == "gift_card" else None
    return PaymentMethod(m["id"], m["source"], method_label(m), balance)


def domain_address(name: str, a: dict[str, Any]) -> Address:
    detail = " ".join(str(p) for p in (a.get("address1"), a.get("address2")) if p)
    return Address(name, "", a.get("state", ""), a.get("city", ""), a.get("zip", ""), detail)


def domain_product(p: dict[str, Any]) -> Product:
    skus = tuple(
        Sku(v["item_id"], p["product_id"], dict(v["options"]), fen(v["price"]), int(v["available"]))
        for v in p["variants"].values()
    )
    return Product(p["product_id"], p["name"], p["name"], "", "", {}, skus)


def domain_order(world: TauWorld, order: dict[str, Any]) -> Order:
    user = world.db["users"].get(order["user_id"], {})
    name = " ".join(user.get("name", {}).values())
    lines = tuple(
        OrderLine(i["item_id"], i["product_id"], i["name"], dict(i["options"]), fen(i["price"]), 1)
        for i in order["items"]
    )
    payments = [p for p in order["payment_history"] if p["transaction_type"] == "payment"]
    return Order(
        id=order["order_id"],
        shopper_id=order["user_id"],
        status=STATUS.get(order["status"], OrderStatus.AFTER_SALE),
        created_at=_EPOCH,
        lines=lines,
        total_fen=sum(line.unit_price_fen for line in lines),
        pay_fen=sum(fen(p["amount"]) for p in payments),
        address=domain_address(name, order["address"]),
        payment_method=payments[0]["payment_method_id"] if payments else "",
        extras={"tau_status": order["status"]},
    )


class TauCommerce(MemoryLedger):
    """Reads map τ records onto xiaoer's domain types; `apply` runs the τ tool a confirmed
    action names, once per idempotency key."""

    def __init__(self, world: TauWorld) -> None:
        super().__init__()
        self.world = world

    async def get_order(self, order_id: str) -> Order | None:
        order = self.world.db["orders"].get(order_id)
        return None if order is None else domain_order(self.world, order)

    async def orders_for(
        self, shopper_id: str, *, limit: int = 10, status: str | None = None
    ) -> list[Order]:
        user = self.world.db["users"].get(shopper_id)
        orders = [
            domain_order(self.world, self.world.db["orders"][o])
            for o in (user or {}).get("orders", [])
        ]
        return [o for o in orders if status is None or o.status == status][:limit]

    async def get_product(self, product_id: str) -> Product | None:
        product = self.world.db["products"].get(product_id)
        return None if product is None else domain_product(product)

    async def search_products(self, query: ProductQuery) -> list[ProductHit]:
        return search(map(domain_product, self.world.db["products"].values()), query)

    async def get_shopper(self, shopper_id: str) -> Shopper | None:
        user = self.world.db["users"].get(shopper_id)
        if user is None:
            return None
        name = f"{user['name']['first_name']} {user['name']['last_name']}"
        methods = tuple(payment_method(m) for m in user["payment_methods"].values())
        return Shopper(
            shopper_id, name, "", (domain_address(name, user["address"]),), payment_methods=methods
        )

    async def apply(self, change: Change) -> ServiceRecord:
        if change.key in self.records:
            return self.records[change.key]
        name = str(change.detail["tool"])
        result = self.world.call(name, dict(change.detail["arguments"]))
        status = "failed" if result.startswith("Error") else "done"
        return self._record(change, status, {"tool": name, "result": result[:500]})
