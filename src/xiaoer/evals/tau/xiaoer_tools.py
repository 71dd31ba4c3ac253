"""xiaoer's structure on the τ-retail world: the 16 τ tools as xiaoer tools (same names and
arguments) and an English voice for the turn loop; the world behind the commerce port is
`commerce.py`, the policy checks `checks.py`.

What xiaoer adds over the baseline, all in code rather than in the prompt:

* identity: order and profile tools answer only for the user a `find_user_id_*` call
  authenticated in this conversation, and only about that user's orders;
* the seven mutating tools never change the world when the model calls them: the call is read
  as the product's change, its named items and options resolved to ids by the product's resolver
  (`commerce/resolve.py`), checked by the product's policy engine with the τ shop's
  `policy.yaml` (`checks.py`), then by the world itself on a throw-away copy, and becomes a
  pending action with a plain summary; the action desk asks the user, executes on an explicit
  yes (checking again first), once, under an idempotency key, with every step in the audit log;
* compact, readable tool results instead of raw JSON (the 1.5B model loses ids in long JSON).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from xiaoer.agent.instructions import Voice
from xiaoer.domain.models import Change, Order, Shop
from xiaoer.evals.tau.checks import KINDS, check, refusal
from xiaoer.evals.tau.commerce import method_label
from xiaoer.evals.tau.specs import MUTATING_TAU, XIAOER_SPECS
from xiaoer.evals.tau.world import TauWorld, fork_db
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


# ---- formatting ----


def _options(options: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in options.items())


def _address(a: dict[str, Any]) -> str:
    parts = (a.get("address1"), a.get("address2"), a.get("city"), a.get("state"), a.get("zip"))
    return ", ".join(str(p) for p in parts if p) + f" ({a.get('country', '')})"


def format_user(user_id: str, user: dict[str, Any]) -> str:
    name = user["name"]
    methods = "\n".join(f"- {method_label(m)}" for m in user["payment_methods"].values())
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


def order_key(world: TauWorld, order_id: object) -> str:
    """The order id as the world spells it: the model often drops the leading '#'."""
    key = str(order_id).strip()
    if key not in world.db["orders"] and f"#{key}" in world.db["orders"]:
        return f"#{key}"
    return key


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
        user_id = identify(world, deps)
        shopper = None if user_id is None else await deps.commerce.get_shopper(user_id)
        if user_id is None or shopper is None:
            return ToolResult(False, NOT_AUTHENTICATED)
        record: dict[str, Any] = {}
        order: Order | None = None
        if name == "modify_user_address":
            if args.get("user_id") != user_id:
                return ToolResult(False, "Error: you may only change the authenticated user")
        else:
            found = _owned_order(world, deps, args.get("order_id", ""))
            if isinstance(found, str):
                return ToolResult(False, found)
            record = found
            order = await deps.commerce.get_order(record["order_id"])
            args = {**args, "order_id": record["order_id"]}
        checked = await check(deps, name, args, order, shopper)
        if checked.error or checked.verdict is None:
            return ToolResult(False, checked.error or "Error: cannot check this change")
        args, verdict = checked.arguments, checked.verdict
        if not verdict.allowed:
            return ToolResult(False, refusal(deps.policy, verdict), {"verdict": verdict.as_dict()})
        probe = TauWorld(fork_db(world.db)).call(name, args)
        if probe.startswith("Error"):
            return ToolResult(False, probe)
        summary = _summary(world, name, args, record)
        change = Change(
            key="", kind=KINDS[name], shopper_id=deps.shopper.id,
            order_id=record.get("order_id"), detail={"tool": name, "arguments": args},
        )  # fmt: skip
        proposal = Proposal(
            tool=name,
            arguments=args,
            order_id=record.get("order_id"),
            summary=summary,
            verdict=verdict,
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
