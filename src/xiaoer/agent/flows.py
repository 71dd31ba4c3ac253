"""After-sales flows, driven by code (DESIGN "Understand, then decide").

The understanding step says what the shopper wants; for a change to an order — cancel, address,
refund, return, exchange, invoice, installation, price protection — a `Flow` (its stage and
slots, `domain/flows.py`) carries the request across turns. Code resolves the order and the item
from the shopper's words and their orders, runs the flow's tool (which checks the policy, offers
retention where the policy says, and proposes the change or says why not), and moves the
stage. The model is not asked to pick a tool or copy an id; where a slot needs reading that code
cannot do (an invoice title, a refund amount), the model gets the stage's instruction and the
stage's two or three tools only.

The confirmation itself stays with the action desk: a flow waits at `offer_retention` or
`confirm` and learns the outcome from the action's status.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from xiaoer.agent.instructions import ORDER_ID
from xiaoer.domain.flows import Flow, Flows, Stage
from xiaoer.domain.models import Order, OrderStatus
from xiaoer.domain.understanding import Understanding
from xiaoer.knowledge.text import cjk_bigrams
from xiaoer.policy.schema import ShopPolicy
from xiaoer.tools.base import Proposal, ToolResult
from xiaoer.tools.deps import PastAction, TurnDeps
from xiaoer.tools.orders import NO_ORDERS, normalize_order_id

_S = OrderStatus
DELIVERED = frozenset({_S.DELIVERED.value, _S.COMPLETED.value})
PAID = frozenset(
    {_S.PENDING_SHIPMENT.value, _S.SHIPPED.value, _S.DELIVERED.value, _S.COMPLETED.value}
)
AMOUNT = re.compile(r"\d+(?:\.\d+)?\s*(?:元|块|rmb|RMB|¥)|[¥￥]\s*\d")
"""A sum of money in the message: a partial refund, which the model reads (code would take
"299 元的那双" for an amount)."""
ORDINAL = re.compile(r"第\s*([一二三四五六七八九1-9])\s*[个笔单条]|(最后|上面|下面)一?[个笔单条]")
_NUMERALS = "一二三四五六七八九"


@dataclass(frozen=True, slots=True)
class FlowSpec:
    kind: str
    tool: str
    label: str
    """What the change is called in a question to the shopper ("要{label}的是哪个订单")."""
    states: Callable[[ShopPolicy], Collection[str]]
    """The order statuses the change is possible in (a filter for choosing the order; the tool
    itself checks the policy and says why not)."""
    args: Callable[[Flow, str], dict[str, Any]]
    """The tool's arguments from the flow's slots and the shopper's message."""
    model_reads: Callable[[str], bool] = lambda text: False
    """Whether this message needs the model to write the call (a slot code cannot read)."""
    needs: str = ""
    """What the model is to read from the message, when it writes the call."""


def _order(flow: Flow, text: str) -> dict[str, Any]:
    return {"order_id": flow.order_id}


def _reasoned(flow: Flow, text: str) -> dict[str, Any]:
    return {"order_id": flow.order_id, "reason": flow.reason}


def _itemised(flow: Flow, text: str) -> dict[str, Any]:
    return {"order_id": flow.order_id, "reason": flow.reason, "item": flow.item}


SPECS: dict[str, FlowSpec] = {
    s.kind: s
    for s in (
        FlowSpec("cancel", "cancel_order", "取消", lambda p: p.cancel.states, _reasoned),
        FlowSpec(
            "address", "change_address", "改地址", lambda p: p.address_change.states,
            lambda f, text: {"order_id": f.order_id, "address": text},
        ),
        FlowSpec(
            "refund", "request_refund", "退款", lambda p: p.refund.states, _reasoned,
            model_reads=lambda text: AMOUNT.search(text) is not None,
            needs="部分退款的金额（amount_yuan，元）",
        ),
        FlowSpec("return", "request_return", "退货", lambda p: DELIVERED, _itemised),
        FlowSpec("exchange", "request_exchange", "换货", lambda p: DELIVERED, _itemised),
        FlowSpec(
            "invoice", "request_invoice", "开发票", lambda p: p.invoice.states, _order,
            model_reads=lambda text: True,
            needs="发票类型、抬头和税号（顾客说了才填；没说抬头就不填）",
        ),
        FlowSpec(
            "installation", "schedule_installation", "预约安装", lambda p: PAID,
            lambda f, text: {"order_id": f.order_id, "date": text, "slot": text},
        ),
        FlowSpec("price_protection", "price_protection", "申请价保", lambda p: PAID, _order),
    )
}  # fmt: skip

TOOLS = frozenset(s.tool for s in SPECS.values())
RECENT = 5
"""The shopper's orders a flow chooses among: the ones `list_my_orders` shows."""
SETTLED_YES = frozenset({"confirmed", "executed", "awaiting_approval", "approved"})

WHICH = "请问您要{label}的是哪一个订单？\n{rows}\n回复订单号或「第几个」就可以。"
NONE_FIT = "您最近的订单里没有能{label}的：\n{rows}\n如果是别的订单，请把订单号发给我。"
STAGE = (
    "【办理中】顾客要{label}，订单 {order_id}。用 {tool} 办理（order_id 填 {order_id}），"
    "从顾客的话里读出：{needs}。顾客没说清的，就问顾客。"
)


class Hands:
    """What a flow step may do in the turn: run a tool (recorded as the turn's call, as if the
    model had made it) and store a proposal as the pending action."""

    async def call(self, name: str, args: dict[str, Any]) -> ToolResult:
        raise NotImplementedError

    async def propose(self, proposal: Proposal) -> tuple[str, str]:
        """The confirmation question and the new action's id."""
        raise NotImplementedError


@dataclass(slots=True)
class FlowTurn:
    """What the flows decided for one turn."""

    flows: Flows
    reply: str | None = None
    """The turn's reply, written by code (no model call); None: the model answers."""
    instruction: str = ""
    """The stage's instruction to the model, when the model is to write the call."""
    tools: tuple[str, ...] = field(default_factory=tuple)
    """The stage's tools, when the model is to write the call."""

    @property
    def flow(self) -> Flow | None:
        return self.flows.active


def synced(flows: Flows, past: Sequence[PastAction]) -> Flows:
    """Flows waiting on an action, moved on by what became of it (the action desk settles
    confirmations; a declined retention offer may have put the original request up instead)."""
    by_id = {p.id: p for p in past}

    def pending(flow: Flow, tools: Collection[str]) -> PastAction | None:
        return next(
            (
                p
                for p in reversed(past)
                if p.status == "pending" and p.tool in tools and p.order_id == flow.order_id
            ),
            None,
        )

    def settle(flow: Flow) -> Flow:
        spec = SPECS[flow.kind]
        if flow.stage == Stage.CHECK and flow.order_id:  # the model proposed at this stage
            made = pending(flow, (spec.tool, "offer_retention"))
            if made is None:
                return flow
            stage = Stage.RETENTION if made.tool == "offer_retention" else Stage.CONFIRM
            return flow.to(stage, action_id=made.id, asked="")
        if flow.stage not in (Stage.RETENTION, Stage.CONFIRM) or not flow.action_id:
            return flow
        action = by_id.get(flow.action_id)
        if action is None or action.status == "pending":
            return flow
        if action.status in SETTLED_YES:
            return flow.to(Stage.DONE, outcome=action.status, asked="")
        if flow.stage == Stage.RETENTION:  # turned down, and "还是取消" put the request up
            instead = pending(flow, (spec.tool,))
            if instead is not None:
                return flow.to(Stage.CONFIRM, action_id=instead.id)
        return flow.to(Stage.DONE, outcome=action.status, asked="")

    active = settle(flows.active) if flows.active is not None else None
    parked = [f for f in (settle(f) for f in flows.parked) if f.open]
    return Flows(active=active, parked=parked)


def picked(flows: Flows, understood: Understanding, text: str) -> Flows:
    """The flow this message works on, as `active`: the one it asks to be done (taken up again
    if it was set aside), or the active one when the message answers what it asked; otherwise
    the active flow is set aside and `active` is None."""
    want = understood.want
    active = flows.active if flows.active is not None and flows.active.open else None
    ongoing = [f for f in (active, *flows.parked) if f is not None and f.kind == want]
    if want in SPECS and (understood.acts or ongoing):  # a question about it starts nothing
        if active is not None and active.kind == want:
            return flows
        return flows.start(Flow(kind=want))
    if active is not None and answers(active, understood, text):
        return flows
    return flows.park()


def answers(flow: Flow, understood: Understanding, text: str) -> bool:
    """Whether a message read as no change request answers what the flow asked."""
    if flow.asked == "order":
        return bool(ORDER_ID.search(text) or ORDINAL.search(text)) or understood.want == "other"
    if flow.asked == "reason":
        return understood.reason_kind != "none" or understood.want == "other"
    if flow.asked in ("item", "details"):
        return understood.want in ("other", "product", "size", "stock")
    return False


def _said_ids(said: Sequence[str]) -> list[str]:
    """Order ids in the shopper's messages, latest first."""
    out: list[str] = []
    for text in reversed(said):
        for raw in ORDER_ID.findall(text):
            oid = normalize_order_id(raw)
            if oid not in out:
                out.append(oid)
    return out


def _row(order: Order) -> str:
    more = f" 等{len(order.lines)}件" if len(order.lines) > 1 else ""
    return f"- {order.id}（{order.status.value}，{order.lines[0].title}{more}）"


def named_orders(orders: Sequence[Order], text: str) -> list[Order]:
    """The orders whose items share the most words with the message (none share any: [])."""
    grams = cjk_bigrams(text)
    if not grams:
        return []
    scores = [(len(grams & cjk_bigrams(" ".join(ln.title for ln in o.lines))), o) for o in orders]
    best = max((s for s, _ in scores), default=0)
    return [o for s, o in scores if s == best] if best > 0 else []


def named_order(orders: Sequence[Order], text: str) -> Order | None:
    """The one order whose items share the most words with the message (None: no single one)."""
    hits = named_orders(orders, text)
    return hits[0] if len(hits) == 1 else None


def refund_is_return(order: Order | None, reason_kind: str) -> bool:
    """Money back for this order is its return: it was delivered, and no missing or wrong item
    was read as the reason (that is a refund without sending anything back). The flows and the
    model's own calls (`turn._as_understood`) both follow it."""
    return (
        reason_kind != "missing_or_wrong" and order is not None and order.status.value in DELIVERED
    )


def cancel_is_return(order: Order | None) -> bool:
    """Undoing an order the shopper already has is its return: a delivered order cannot be
    cancelled, and the way to give it back is to send it back (seen on the tuned suite: "SO…
    的…有点贵，想退掉" of a delivered order read as 取消, refused with the cancel rule's
    states, and neither the return nor the shop's offer to keep it came up)."""
    return order is not None and order.status.value in DELIVERED


def is_return(kind: str, order: Order | None, reason_kind: str) -> bool:
    """Whether a refund or a cancel asked for this order is its return (`refund_is_return`,
    `cancel_is_return`); the flows and the model's own calls (`turn._as_understood`) ask it."""
    if kind == "refund":
        return refund_is_return(order, reason_kind)
    return kind == "cancel" and cancel_is_return(order)


def _ordinal(choices: Sequence[str], text: str) -> str | None:
    m = ORDINAL.search(text)
    if m is None or not choices:
        return None
    if m.group(2):
        return choices[-1] if m.group(2) in ("最后", "下面") else choices[0]
    digit = m.group(1)
    index = (int(digit) if digit.isdigit() else _NUMERALS.index(digit) + 1) - 1
    return choices[index] if index < len(choices) else None


AFTER_SALE_KINDS = frozenset({"refund", "return", "exchange"})
"""Flows that start an after-sale case (an order has one at a time)."""


class FlowDriver:
    """Moves the conversation's flows one turn on."""

    def __init__(self, tools: Collection[str]) -> None:
        self.specs = {k: s for k, s in SPECS.items() if s.tool in tools}
        self.looks_up = "get_order" in tools

    def takes(self, understood: Understanding | None, flows: Flows) -> bool:
        return understood is not None and (
            understood.want in self.specs or (flows.active is not None and flows.active.open)
        )

    async def step(
        self, deps: TurnDeps, flows: Flows, understood: Understanding, text: str, hands: Hands
    ) -> FlowTurn:
        flows = picked(synced(flows, deps.past_actions), understood, text)
        flow = flows.active
        if flow is None or flow.kind not in self.specs or flow.stage in (
            Stage.RETENTION, Stage.CONFIRM,
        ):  # fmt: skip
            return FlowTurn(flows)  # the desk has the pending action; the model answers
        spec = self.specs[flow.kind]
        if understood.reason_kind != "none" and not flow.reason:
            flow = flow.model_copy(update={"reason": text, "reason_kind": understood.reason_kind})
        elif flow.asked == "reason":
            flow = flow.model_copy(update={"reason": text})
        if flow.stage == Stage.ORDER:
            order_id, ask, choices = await self._order(deps, spec, flow, text, hands)
            if order_id is None:
                return FlowTurn(
                    flows.put(flow.to(Stage.ORDER, asked="order", choices=choices)), ask
                )
            flow = flow.to(Stage.CHECK, order_id=order_id, choices=[], asked="")
        elif flow.stage == Stage.ITEMS:
            flow = flow.to(Stage.CHECK, item=text, asked="")
        if flow.kind in AFTER_SALE_KINDS and (
            (order := await deps.commerce.get_order(flow.order_id)) is not None
            and order.status == OrderStatus.AFTER_SALE
            and self.looks_up
        ):
            # The order already has an after-sale under way, so no new one can start; a message
            # read as asking for one is about that one (seen on dev, refund-stride-002: "退的鞋
            # 已经寄回去了…钱什么时候退给我？" refused with "已经在售后处理中"). The model
            # answers from the order's record, which shows the case and its progress — or the
            # record's own answer is the reply (`after_sale_answer`; seen on the tuned suite:
            # the model wrote "订单状态：售后中" from it and stopped).
            found = await hands.call("get_order", {"order_id": flow.order_id})
            told = found.data.get("after_sale_answer") or None
            done = flows.put(flow.to(Stage.DONE, outcome="answered", asked=""))
            return FlowTurn(done, str(told) if told else None)
        if flow.kind in ("refund", "cancel") and "return" in self.specs:
            # Money back for goods the shopper has is their return (seen on dev: "能七天无理由
            # 退吗" and "只退手表可以吗" read as 退款, and refused as 仅退款 of a shipped order);
            # money back without sending anything is for what did not arrive right. So is
            # undoing a delivered order (`cancel_is_return`).
            order = await deps.commerce.get_order(flow.order_id)
            if is_return(flow.kind, order, flow.reason_kind):
                flow = flow.model_copy(update={"kind": "return"})
                spec = self.specs["return"]
        if spec.model_reads(text):
            instruction = STAGE.format(
                label=spec.label, order_id=flow.order_id, tool=spec.tool, needs=spec.needs
            )
            tools = (spec.tool, "get_order", "handoff")
            return FlowTurn(
                flows.put(flow.to(Stage.CHECK, asked="details")), None, instruction, tools
            )
        result = await hands.call(spec.tool, spec.args(flow, text))
        proposal = result.proposal
        if proposal is not None:
            ask, action_id = await hands.propose(proposal)
            stage = Stage.RETENTION if proposal.tool == "offer_retention" else Stage.CONFIRM
            return FlowTurn(flows.put(flow.to(stage, action_id=action_id, asked="")), ask)
        return FlowTurn(flows.put(self._checked(flow, result)), result.reply)

    def _checked(self, flow: Flow, result: ToolResult) -> Flow:
        """The flow after its tool answered without a proposal: it asks for something, or it
        refused (done)."""
        verdict = result.data.get("verdict")
        if isinstance(verdict, dict) and not verdict.get("allowed", True):
            if "reason" in str(verdict.get("rule", "")):  # a reason the policy needs: ask
                return flow.to(Stage.CHECK, asked="reason")
            return flow.to(Stage.DONE, outcome="refused", asked="")
        if not result.ok:
            return flow.to(Stage.DONE, outcome="failed", asked="")
        if result.data.get("asks") == "item":
            return flow.to(Stage.ITEMS, asked="item")
        if result.reply:  # the tool asks for what it still needs (an address, a time…)
            return flow.to(Stage.CHECK, asked="details")
        return flow.to(Stage.DONE, outcome="answered", asked="")

    async def _order(
        self, deps: TurnDeps, spec: FlowSpec, flow: Flow, text: str, hands: Hands
    ) -> tuple[str | None, str, list[str]]:
        """The order the request is about, or the question asking which (with its choices).

        The order the shopper names wins (in this message, among the choices they were given,
        or earlier in the conversation); otherwise, of their orders, the only one the change is
        possible for, or the one whose items they name."""
        here = _said_ids([text])
        if len(here) == 1:
            return here[0], "", []
        if flow.choices:
            chosen = _ordinal(flow.choices, text)
            if chosen:
                return chosen, "", []
        earlier = [oid for oid in _said_ids(deps.said[:-1]) if deps.on_record(oid)]
        if not here and earlier:
            return earlier[0], "", []
        orders = await deps.commerce.orders_for(deps.shopper.id, limit=RECENT)
        if not orders:
            return None, NO_ORDERS, []
        await hands.call("list_my_orders", {})  # the same orders, on record for the tools
        allowed = spec.states(deps.policy)
        fit = [o for o in orders if o.status.value in allowed]
        if here:
            fit = [o for o in fit if o.id in here] or fit
        pool = fit or orders  # none fits: the one they name still gets the policy's reason
        named = named_order(pool, text)
        if named is not None:
            return named.id, "", []
        if len(pool) == 1:
            return pool[0].id, "", []
        if not fit:
            rows = "\n".join(_row(o) for o in orders[:5])
            return None, NONE_FIT.format(label=spec.label, rows=rows), []
        shown = fit[:5]
        rows = "\n".join(f"{i}. {_row(o)[2:]}" for i, o in enumerate(shown, 1))
        return None, WHICH.format(label=spec.label, rows=rows), [o.id for o in shown]
