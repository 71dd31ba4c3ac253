"""xiaoer's structure on the τ-retail world: the world as a commerce backend, the 16 τ tools as
xiaoer tools (same names and arguments), and an English voice for the turn loop.

What xiaoer adds over the baseline, all in code rather than in the prompt:

* identity: order and profile tools answer only for the user a `find_user_id_*` call
  authenticated in this conversation, and only about that user's orders;
* the seven mutating tools never change the world when the model calls them: the call is
  checked on a throw-away fork of the world and becomes a pending action with a plain summary;
  the action desk asks the user, executes on an explicit yes (checking again first), once,
  under an idempotency key, with every step in the audit log;
* compact, readable tool results instead of raw JSON (the 1.5B model loses ids in long JSON).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from xiaoer.agent.instructions import Voice
from xiaoer.commerce.base import ProductHit, ProductQuery
from xiaoer.commerce.memory import MemoryLedger
from xiaoer.commerce.search import search
from xiaoer.domain.models import (
    Address,
    Change,
    Order,
    OrderLine,
    OrderStatus,
    Product,
    ServiceRecord,
    Shop,
    Shopper,
    Sku,
)
from xiaoer.evals.tau.specs import MUTATING_TAU, XIAOER_SPECS
from xiaoer.evals.tau.world import TauWorld, fork_db
from xiaoer.policy.verdict import allow
from xiaoer.tools.base import Proposal, Tool, ToolResult
from xiaoer.tools.deps import TurnDeps

SYSTEM_EN = """You are the customer service agent of an online shop. Rules:
1. First authenticate the user: find their user id by email, or by first name, last name and zip.
2. Use the tools to look up the user, their orders and products; answer only from tool results.
3. To cancel, modify, return or exchange: look up the order (and the product, for new options),
then call the tool with the exact item ids. Put all items of one order in one call. The system
then asks the user to confirm; do not ask yourself.
4. Cancel reasons: 'no longer needed' or 'ordered by mistake'.
5. Transfer to a human only when the tools cannot do what the user wants."""

ENGLISH = Voice(
    system=lambda shop: SYSTEM_EN,
    no_reply="Sorry, I did not get that right. Could you say it another way?",
    with_result="Here is what I found:\n{result}",
)

CONFIRM_EN = '{summary}\nShall I go ahead? Reply "yes" to confirm, or "no" to leave it as it is.'
RESULT_CHARS = 2400
_AUTHENTICATED = re.compile(r"^Authenticated user id: (\S+)$", re.M)
NOT_AUTHENTICATED = (
    "Error: the user is not authenticated yet. Ask for their email, or first name, last name "
    "and zip code, and call find_user_id_by_email or find_user_id_by_name_zip."
)


class TauCommerce(MemoryLedger):
    """The τ world behind xiaoer's `CommerceBackend` port. Reads map τ records onto xiaoer's
    domain types; `apply` runs the τ tool a confirmed action names, once per idempotency key."""

    def __init__(self, world: TauWorld) -> None:
        super().__init__()
        self.world = world

    async def get_order(self, order_id: str) -> Order | None:
        order = self.world.db["orders"].get(order_id)
        return None if order is None else self._order(order)

    async def orders_for(
        self, shopper_id: str, *, limit: int = 10, status: str | None = None
    ) -> list[Order]:
        user = self.world.db["users"].get(shopper_id)
        orders = [self._order(self.world.db["orders"][o]) for o in (user or {}).get("orders", [])]
        return [o for o in orders if status is None or o.status == status][:limit]

    async def get_product(self, product_id: str) -> Product | None:
        product = self.world.db["products"].get(product_id)
        return None if product is None else _product(product)

    async def search_products(self, query: ProductQuery) -> list[ProductHit]:
        return search(map(_product, self.world.db["products"].values()), query)

    async def get_shopper(self, shopper_id: str) -> Shopper | None:
        user = self.world.db["users"].get(shopper_id)
        if user is None:
            return None
        name = f"{user['name']['first_name']} {user['name']['last_name']}"
        return Shopper(shopper_id, name, "", (_domain_address(name, user["address"]),))

    def _order(self, order: dict[str, Any]) -> Order:
        user = self.world.db["users"].get(order["user_id"], {})
        name = " ".join(user.get("name", {}).values())
        lines = tuple(
            OrderLine(
                i["item_id"], i["product_id"], i["name"], dict(i["options"]), _fen(i["price"]), 1
            )
            for i in order["items"]
        )
        paid = sum(
            _fen(p["amount"])
            for p in order["payment_history"]
            if p["transaction_type"] == "payment"
        )
        return Order(
            id=order["order_id"],
            shopper_id=order["user_id"],
            status=_STATUS.get(order["status"], OrderStatus.AFTER_SALE),
            created_at=_EPOCH,
            lines=lines,
            total_fen=sum(line.unit_price_fen for line in lines),
            pay_fen=paid,
            address=_domain_address(name, order["address"]),
            extras={"tau_status": order["status"]},
        )

    async def apply(self, change: Change) -> ServiceRecord:
        if change.key in self.records:
            return self.records[change.key]
        name = str(change.detail["tool"])
        result = self.world.call(name, dict(change.detail["arguments"]))
        status = "failed" if result.startswith("Error") else "done"
        return self._record(change, status, {"tool": name, "result": result[:500]})


_STATUS = {
    "pending": OrderStatus.PENDING_SHIPMENT,
    "pending (item modified)": OrderStatus.PENDING_SHIPMENT,
    "processed": OrderStatus.SHIPPED,
    "delivered": OrderStatus.DELIVERED,
    "cancelled": OrderStatus.CANCELLED,
}
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
"""τ orders carry no dates."""


def _fen(dollars: float) -> int:
    """Cents, kept in xiaoer's integer minor unit."""
    return round(float(dollars) * 100)


def _domain_address(name: str, a: dict[str, Any]) -> Address:
    detail = " ".join(str(p) for p in (a.get("address1"), a.get("address2")) if p)
    return Address(name, "", a.get("state", ""), a.get("city", ""), a.get("zip", ""), detail)


def _product(p: dict[str, Any]) -> Product:
    skus = tuple(
        Sku(
            v["item_id"],
            p["product_id"],
            dict(v["options"]),
            _fen(v["price"]),
            int(bool(v["available"])),
        )
        for v in p["variants"].values()
    )
    return Product(p["product_id"], p["name"], p["name"], "", "", {}, skus)


# ---- formatting ----


def _options(options: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in options.items())


def _address(a: dict[str, Any]) -> str:
    parts = (a.get("address1"), a.get("address2"), a.get("city"), a.get("state"), a.get("zip"))
    return ", ".join(str(p) for p in parts if p) + f" ({a.get('country', '')})"


def _method(m: dict[str, Any]) -> str:
    if m["source"] == "credit_card":
        return f"{m['id']} (credit card {m.get('brand', '')} ending {m.get('last_four', '')})"
    if m["source"] == "gift_card":
        return f"{m['id']} (gift card, balance ${m.get('balance', 0)})"
    return f"{m['id']} ({m['source']})"


def format_user(user_id: str, user: dict[str, Any]) -> str:
    name = user["name"]
    methods = "\n".join(f"- {_method(m)}" for m in user["payment_methods"].values())
    return (
        f"User {user_id}: {name['first_name']} {name['last_name']}, {user['email']}\n"
        f"Default address: {_address(user['address'])}\n"
        f"Payment methods:\n{methods}\n"
        f"Orders: {', '.join(user['orders'])}"
    )


def format_order(order: dict[str, Any]) -> str:
    items = "\n".join(
        f"- item_id {i['item_id']}: {i['name']} ({_options(i['options'])}), ${i['price']}, "
        f"product_id {i['product_id']}"
        for i in order["items"]
    )
    paid = "; ".join(
        f"{p['transaction_type']} ${p['amount']} via {p['payment_method_id']}"
        for p in order["payment_history"]
    )
    return (
        f"Order {order['order_id']} (user {order['user_id']}): status {order['status']}\n"
        f"Items:\n{items}\nShip to: {_address(order['address'])}\nPayments: {paid}"
    )


def format_product(product: dict[str, Any]) -> str:
    variants = product["variants"].values()
    shown = "\n".join(
        f"- item_id {v['item_id']}: {_options(v['options'])}, ${v['price']}"
        for v in variants
        if v.get("available")
    )
    hidden = sum(1 for v in variants if not v.get("available"))
    note = f"\n({hidden} more variants are out of stock)" if hidden else ""
    return f"{product['name']} (product_id {product['product_id']}), available:\n{shown}{note}"


# ---- the tools ----


def authenticated(deps: TurnDeps) -> str | None:
    """The user id a `find_user_id_*` call returned in this conversation (the latest)."""
    found = [m.group(1) for text in deps.seen for m in _AUTHENTICATED.finditer(text)]
    return found[-1] if found else None


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_NAME = re.compile(r"(?:I'm|I am|[Mm]y name is|[Nn]ame is)\s+([A-Z][a-z'-]+)\s+([A-Z][a-z'-]+)")
_ZIP = re.compile(r"(?<!\d)(\d{5})(?!\d)")
_HUMAN = re.compile(r"\b(human|agent|representative|real person|manager|supervisor)\b", re.I)
NO_TRANSFER = (
    "Error: not transferred. The user has not asked for a human. Authenticate the user, look up "
    "the order (and the product for new options), then call the tool for the change. Transfer "
    "only if the user asks again or the tools cannot do it."
)


def identify(world: TauWorld, deps: TurnDeps) -> str | None:
    """The user this conversation acts for: the one a `find_user_id_*` call authenticated, or
    else the one whose email, or name and zip, the user wrote — verified against the world here,
    in code, so a model that skips the lookup cannot act for a guessed user."""
    if (user_id := authenticated(deps)) is not None:
        return user_id
    text = " ".join(deps.said)
    for email in _EMAIL.findall(text):
        found = world.call("find_user_id_by_email", {"email": email.rstrip(".")})
        if not found.startswith("Error"):
            return found
    for first, last in _NAME.findall(text):
        for code in _ZIP.findall(text):
            args = {"first_name": first, "last_name": last, "zip": code}
            found = world.call("find_user_id_by_name_zip", args)
            if not found.startswith("Error"):
                return found
    return None


def resolve_variants(world: TauWorld, order: dict[str, Any], args: dict[str, Any]) -> object:
    """New item ids, where the model wrote option values ("stainless steel, drip") instead of an
    id: the available variant of the same product that matches most of those values (ties go to
    the one closest to the old item); left as given when no single variant fits."""
    old_ids, new_ids = args.get("item_ids"), args.get("new_item_ids")
    if not isinstance(old_ids, list) or not isinstance(new_ids, list):
        return new_ids
    items = {i["item_id"]: i for i in order.get("items", [])}
    out: list[object] = []
    for old_id, new in zip(old_ids, new_ids, strict=False):
        item = items.get(str(old_id))
        product = world.db["products"].get(item["product_id"]) if item else None
        if item is None or product is None or str(new) in product["variants"]:
            out.append(new)
            continue
        text = str(new).lower()
        ranked = sorted(
            (
                sum(str(v).lower() in text for v in variant["options"].values()),
                sum(item["options"].get(k) == v for k, v in variant["options"].items()),
                variant["item_id"],
            )
            for variant in product["variants"].values()
            if variant.get("available") and variant["item_id"] != item["item_id"]
        )
        best = ranked[-1] if ranked else None
        tied = best is not None and len(ranked) > 1 and ranked[-2][:2] == best[:2]
        out.append(best[2] if best and best[0] > 0 and not tied else new)
    return out + new_ids[len(out) :]


def order_key(world: TauWorld, order_id: object) -> str:
    """The order id as the world spells it: the model often drops the leading '#'."""
    key = str(order_id).strip()
    if key not in world.db["orders"] and f"#{key}" in world.db["orders"]:
        return f"#{key}"
    return key


def resolve_items(order: dict[str, Any], given: object) -> list[str] | object:
    """Item ids, where the model wrote an item's name, or its name with options ("Running Shoes
    (size 9, color white)"), resolved against the order's items: among the items whose name
    the text contains, the one with the most option values in it, when that one is unique.
    Anything else is left as given for the tool to reject."""
    if not isinstance(given, list):
        return given
    items = order.get("items", [])
    ids = {i["item_id"] for i in items}
    out: list[str] = []
    for value in given:
        text = str(value).strip()
        if text in ids:
            out.append(text)
            continue
        lowered = text.lower()
        ranked = sorted(
            {
                (sum(str(v).lower() in lowered for v in i["options"].values()), i["item_id"])
                for i in items
                if i["name"].lower() in lowered
            }
        )
        unique = ranked and (len(ranked) == 1 or ranked[-1][0] > ranked[-2][0])
        out.append(ranked[-1][1] if unique else text)
    return out


def _owned_order(world: TauWorld, deps: TurnDeps, order_id: str) -> dict[str, Any] | str:
    """The order if it belongs to the authenticated user, else the error text."""
    user_id = identify(world, deps)
    if user_id is None:
        return NOT_AUTHENTICATED
    order = world.db["orders"].get(order_key(world, order_id))
    if order is None:
        return "Error: order not found"
    if order["user_id"] != user_id:
        return (
            "Error: this order belongs to another user; you may only act for the authenticated user"
        )
    return order


def _summary(world: TauWorld, name: str, args: dict[str, Any], order: dict[str, Any]) -> str:
    """What the change does, in words the user can check."""
    by_id = {i["item_id"]: i for i in order.get("items", [])}

    def item(item_id: str) -> str:
        i = by_id.get(item_id)
        return f"{i['name']} ({_options(i['options'])})" if i else item_id

    def new_item(old_id: str, new_id: str) -> str:
        old = by_id.get(old_id)
        product = world.db["products"].get(old["product_id"]) if old else None
        variant = product["variants"].get(new_id) if product else None
        return f"({_options(variant['options'])}, ${variant['price']})" if variant else new_id

    oid = order.get("order_id", "")
    if name == "cancel_pending_order":
        return f"Cancel order {oid} (reason: {args.get('reason')}); every payment is refunded."
    if name in ("modify_pending_order_address", "modify_user_address"):
        target = f"order {oid}" if oid else "your default address"
        return f"Change the address of {target} to {_address(args)}."
    if name == "modify_pending_order_payment":
        return f"Pay order {oid} with {args.get('payment_method_id')} instead."
    if name == "return_delivered_order_items":
        items = "; ".join(item(i) for i in args.get("item_ids", []))
        return f"Return from order {oid}: {items}. Refund to {args.get('payment_method_id')}."
    pairs = zip(args.get("item_ids", []), args.get("new_item_ids", []), strict=False)
    swaps = "; ".join(f"{item(old)} → {new_item(old, new)}" for old, new in pairs)
    verb = "Exchange" if name == "exchange_delivered_order_items" else "Change"
    return (
        f"{verb} in order {oid}: {swaps}. Price difference settled with "
        f"{args.get('payment_method_id')}."
    )


def _lookup(world: TauWorld, name: str) -> Callable[[TurnDeps, dict[str, Any]], Any]:
    async def run(deps: TurnDeps, args: dict[str, Any]) -> ToolResult:
        if name.startswith("find_user_id"):
            result = world.call(name, args)
            if result.startswith("Error"):
                return ToolResult(False, result)
            return ToolResult(True, f"Authenticated user id: {result}", {"user_id": result})
        if name == "get_user_details":
            user = identify(world, deps)
            if user is None:
                return ToolResult(False, NOT_AUTHENTICATED)
            if str(args.get("user_id", "")).strip() != user:
                return ToolResult(False, f"Error: the authenticated user is {user}; only they")
            return ToolResult(True, format_user(user, world.db["users"][user]))
        if name == "transfer_to_human_agents" and not _HUMAN.search(" ".join(deps.said)):
            if not any(NO_TRANSFER in text for text in deps.seen):
                return ToolResult(False, NO_TRANSFER)
        if name == "get_order_details":
            order = _owned_order(world, deps, args.get("order_id", ""))
            if isinstance(order, str):
                return ToolResult(False, order)
            return ToolResult(True, format_order(order))
        result = world.call(name, args)
        if name == "get_product_details" and not result.startswith("Error"):
            return ToolResult(True, format_product(json.loads(result)))
        return ToolResult(not result.startswith("Error"), result or "(noted)")

    return run


def _mutation(world: TauWorld, name: str) -> Callable[[TurnDeps, dict[str, Any]], Any]:
    async def run(deps: TurnDeps, args: dict[str, Any]) -> ToolResult:
        if name == "modify_user_address":
            user_id = identify(world, deps)
            if user_id is None:
                return ToolResult(False, NOT_AUTHENTICATED)
            if args.get("user_id") != user_id:
                return ToolResult(False, "Error: you may only change the authenticated user")
            order: dict[str, Any] = {}
        else:
            found = _owned_order(world, deps, args.get("order_id", ""))
            if isinstance(found, str):
                return ToolResult(False, found)
            order = found
            args = {**args, "order_id": order["order_id"]}
            if "item_ids" in args:
                args["item_ids"] = resolve_items(order, args["item_ids"])
            if "new_item_ids" in args:
                args["new_item_ids"] = resolve_variants(world, order, args)
        probe = TauWorld(fork_db(world.db)).call(name, args)
        if probe.startswith("Error"):
            return ToolResult(False, probe)
        summary = _summary(world, name, args, order)
        change = Change(
            key="", kind=name, shopper_id=deps.shopper.id, order_id=order.get("order_id"),
            detail={"tool": name, "arguments": args},
        )  # fmt: skip
        proposal = Proposal(
            tool=name,
            arguments=args,
            order_id=order.get("order_id"),
            summary=summary,
            verdict=allow(f"tau.{name}", "checked on a copy of the world"),
            change=change,
            done=f"Done: {summary}",
            ask=CONFIRM_EN.format(summary=summary),
        )
        return ToolResult(True, f"Proposed, awaiting the user's yes: {summary}", proposal=proposal)

    return run


def tau_tools(world: TauWorld) -> tuple[Tool, ...]:
    """The 16 τ tools over `world`, as xiaoer tools (mutating ones through the action desk)."""
    tools: list[Tool] = []
    for name, spec in XIAOER_SPECS.items():
        if name in MUTATING_TAU:
            tools.append(Tool(spec, _mutation(world, name), mutating=True, answers=False))
        else:
            tools.append(Tool(spec, _lookup(world, name), answers=False))
    return tuple(tools)


TAU_SHOP = Shop(id="tau-retail", name="τ-retail shop", timezone="UTC")
