"""Order tools: get_order, list_my_orders, track_logistics."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import Field

from xiaoer.domain.models import Order, OrderLine, OrderStatus, Product
from xiaoer.domain.money import yuan
from xiaoer.policy import rules
from xiaoer.tools import ruled
from xiaoer.tools.args import ToolArgs, asked
from xiaoer.tools.base import ToolResult, typed
from xiaoer.tools.deps import TurnDeps
from xiaoer.tools.format import (
    after_sale_of,
    idle_days,
    money_answer,
    order_detail,
    order_summary,
    track_text,
    when,
)

REFUSAL = "抱歉，没有查到订单 {id}，或者这个订单不在您的账号下。麻烦您核对一下订单号，也可以问我“我的订单”查看您的订单。"
"""The canned reply for an unknown or foreign order: the same words for both, no details."""
NOT_YOURS = (
    "没有查到订单 {id}：订单号不存在，或不是当前顾客的订单。"
    "请礼貌地请顾客核对订单号，不要透露其他任何信息。"
)
UNSEEN = "顾客没有提供过订单号 {id}，不能查这个号。"
WHICH = "您最近的订单有：\n{}\n请问您问的是哪一个？把订单号发给我就可以。"
NO_ORDERS = "您的账号下还没有订单。如果是在别的账号下的单，麻烦换那个账号来咨询。"
_ORDER_ID = re.compile(r"[^A-Za-z0-9_\-]")
ORDER_ID = re.compile(
    r"(?<![A-Za-z0-9])(?:[A-Za-z]{1,4}\d{4,}|(?!1[3-9]\d{9}(?!\d))\d{8,})(?![0-9A-Za-z])"
)
"""An order number as shoppers write one; a mobile number (11 digits, 13–19…) is not one."""
PHONE_SHAPED = re.compile(r"1[3-9]\d{9}")
"""A mainland mobile number: what a shopper gives with an address, taken for an order number (seen:
"…，陈晓雨，13621987754" looked up as order 13621987754 and refused)."""


def normalize_order_id(raw: Any) -> str:
    return _ORDER_ID.sub("", str(raw or "")).upper()


async def owned_order(deps: TurnDeps, raw_id: Any) -> tuple[Order | None, ToolResult]:
    """The shopper's own order, or None. Unknown and foreign orders look the same."""
    order_id = normalize_order_id(raw_id)
    if (
        not order_id
        and len(named := set(ORDER_ID.findall(deps.said[-1] if deps.said else ""))) == 1
    ):
        # the call left it out, the message names one (seen on the tuned suite: "…订单
        # SO…，现在是不是降价了？能保价吗？" answered with "which order?" and a list of others)
        order_id = normalize_order_id(named.pop())
    if not order_id:
        return None, await _which_order(deps, "顾客没有说订单号。")
    if not deps.on_record(order_id):
        return None, await _which_order(deps, UNSEEN.format(id=order_id))
    order = await deps.commerce.get_order(order_id)
    if order is None or order.shopper_id != deps.shopper.id:
        if PHONE_SHAPED.fullmatch(order_id):  # unknown and foreign alike
            return None, await _which_order(deps, f"{order_id} 是手机号，不是订单号。")
        text = NOT_YOURS.format(id=order_id)
        return None, ToolResult(False, text, {"order_id": order_id}, REFUSAL.format(id=order_id))
    return order, ToolResult(True, "")


async def _which_order(deps: TurnDeps, problem: str) -> ToolResult:
    """The shopper named no (real) order: ask which one, listing their recent orders.

    A canned clarifying reply: measured, the model told to "ask for the order number" made
    up another number, and given the list it still invented a carrier and a status.
    """
    orders = await deps.commerce.orders_for(deps.shopper.id, limit=3)
    if not orders:
        return ToolResult(True, f"{problem}顾客没有订单。", {"order_ids": []}, NO_ORDERS)
    rows = "\n".join(order_summary(o, deps.local) for o in orders)
    text = f"{problem}顾客最近的订单：\n{rows}"
    choices = "\n".join(f"- {o.id}（{o.status}，{o.lines[0].title}）" for o in orders)
    return ToolResult(True, text, {"order_ids": [o.id for o in orders]}, WHICH.format(choices))


class OrderArgs(ToolArgs):
    order_id: str = asked("顾客给的订单号")
    """Normalised by `owned_order` (spaces, a leading '#', lower case are all fine)."""


class ListOrdersArgs(ToolArgs):
    status: OrderStatus | None = Field(None, description="只看这个状态的订单，可不填")


async def get_order(deps: TurnDeps, args: OrderArgs) -> ToolResult:
    order, problem = await owned_order(deps, args.order_id)
    if order is None:
        return problem
    text = order_detail(order, deps.local)
    data: dict[str, Any] = {"order_id": order.id, "status": str(order.status),
                            "pay_fen": order.pay_fen, "money_answer": money_answer(order)}  # fmt: skip
    if (promise := await dispatch_promise(deps, order)) is not None:
        text += f"\n{promise.text}"
        data |= promise.data
    after = after_sale_of(order)
    flow = ""
    if (
        isinstance(after, dict)
        and "退" in str(after.get("type", ""))
        and "寄回" in str(after.get("status", ""))
    ):
        returns, refund = deps.policy.returns, deps.policy.refund
        flow = (
            f"商品寄回、仓库签收后{returns.inspect_hours}小时内验货，"
            "通过后原路退款" + (f"（{refund.timing}）" if refund.timing else "") + "。"
        )
        text += f"\n退货流程（本店规则）：{flow}"
    if after and order.status == OrderStatus.AFTER_SALE:
        data["after_sale_answer"] = after_sale_answer(order.id, after, flow)
    return ToolResult(True, text, data)


@dataclass(frozen=True, slots=True)
class Promise:
    """A paid order's dispatch promise (`urge.promise_hours`): when it is due, and whether that
    has passed unshipped."""

    hours: int
    due: datetime
    overdue: bool
    text: str
    said: str
    """The promise in the words a reply may use: "付款后48小时内发货，最晚 … 前发出"."""

    @property
    def data(self) -> dict[str, Any]:
        """What a tool result carries of it for the turn."""
        return {"overdue": self.overdue, "promise": self.said, "promise_hours": self.hours}


async def order_products(deps: TurnDeps, lines: Sequence[OrderLine]) -> dict[str, Product]:
    """The catalogue products of these order lines, by id (a product no longer listed is left
    out)."""
    out: dict[str, Product] = {}
    for ln in lines:
        if ln.product_id not in out and (p := await deps.commerce.get_product(ln.product_id)):
            out[ln.product_id] = p
    return out


async def dispatch_promise(deps: TurnDeps, order: Order) -> Promise | None:
    """The promise of a paid order not yet shipped, as its record tells it (None for any other
    order): the model is told the due time and whether it passed, and does not compare times
    itself."""
    if order.status != OrderStatus.PENDING_SHIPMENT:
        return None
    promise = rules.dispatch_promise(deps.policy, order, await order_products(deps, order.lines))
    hours = int(promise.total_seconds() // 3600)
    due = (order.paid_at or order.created_at) + promise
    overdue = deps.now > due
    state = "已经超时，还没发货" if overdue else "还在承诺时间内"
    said = f"付款后{hours}小时内发货，最晚 {when(deps.local(due))} 前发出"
    return Promise(hours, due, overdue, f"发货承诺：{said}；{state}。", said)


def after_sale_answer(order_id: str, after: Any, flow: str) -> str:
    """An order's after-sale case told to the shopper, from the record alone: its progress and
    the refund, then the shop's own steps from here."""
    if not isinstance(after, dict):
        return f"订单 {order_id} 的售后：{after}。{flow}"
    kind = str(after.get("type") or "售后")
    said = [str(after["status"])] if after.get("status") else []
    if isinstance(refund := after.get("refund_fen"), int):
        said.append(f"退款金额{yuan(refund)}")
    if after.get("exchange_to"):
        said.append(f"换成{after['exchange_to']}")
    if not said:  # the record names the case and nothing of how it stands
        return f"您的订单 {order_id} 正在{kind}。{flow}"
    return f"您的订单 {order_id} 的{kind}：{'，'.join(said)}。{flow}"


async def list_my_orders(deps: TurnDeps, args: ListOrdersArgs) -> ToolResult:
    status = str(args.status or "")
    if status and not deps.shopper_said(status):
        status = ""  # a filter the shopper did not ask for would hide their other orders
    orders = await deps.commerce.orders_for(deps.shopper.id, limit=5, status=status or None)
    if not orders:
        return ToolResult(True, "当前顾客没有" + (f"{status}的" if status else "") + "订单。")
    rows = [order_summary(o, deps.local) for o in orders]
    return ToolResult(
        True,
        f"顾客最近的{len(orders)}个订单（新→旧）：\n" + "\n".join(rows),
        {"order_ids": [o.id for o in orders]},
    )


async def track_logistics(deps: TurnDeps, args: OrderArgs) -> ToolResult:
    order, problem = await owned_order(deps, args.order_id)
    if order is None:
        return problem
    if order.shipment is None:
        note = {
            OrderStatus.PENDING_PAYMENT: "订单还没有付款，所以还没有发货。",
            OrderStatus.PENDING_SHIPMENT: "订单已付款，仓库还没有发货，暂时没有物流信息。",
            OrderStatus.CANCELLED: "订单已取消，没有物流。",
        }.get(order.status, "这个订单暂时没有物流信息。")
        data: dict[str, Any] = {"order_id": order.id}
        if (promise := await dispatch_promise(deps, order)) is not None:
            note += promise.text
            data |= promise.data
        return ToolResult(True, f"订单 {order.id}：{order.status}。{note}", data)
    latest = order.shipment.latest
    result = ToolResult(
        True,
        track_text(order, order.shipment, deps.local, deps.now),
        {
            "order_id": order.id,
            "status": str(order.status),
            "carrier": order.shipment.carrier,
            "tracking_no": order.shipment.tracking_no,
            "latest": latest.detail if latest else None,
            "idle_days": idle_days(order, order.shipment, deps.now),
        },
    )
    return await _ruled(deps, order, result)


async def _ruled(deps: TurnDeps, order: Order, result: ToolResult) -> ToolResult:
    """The tracking, with what the shop's rules say about this parcel (a stalled or lost one
    handed to a human, the shopper asked what they want): the model reads both."""
    decision = await ruled.judge(deps, "logistics", order)
    outcome = ruled.stopped(deps, decision, order, "物流问题") or ruled.asked(decision, order)
    if outcome is None:
        return result
    return ToolResult(
        True,
        f"{result.text}\n{outcome.text}",
        {**result.data, **outcome.data},
        outcome.reply,
    )


ORDER_TOOLS = (
    typed(
        "get_order",
        "查询当前顾客的一个订单的详情：状态、商品、金额、收货地址、快递单号。",
        get_order,
        answer_hint="，说出订单现在的状态；顾客问到的金额、商品也照查询结果说出来",
    ),
    typed(
        "list_my_orders",
        "列出当前顾客最近的订单（顾客没说订单号时用）。可按状态筛选。",
        list_my_orders,
        answer_hint="，说出订单号、商品和状态",
    ),
    typed(
        "track_logistics",
        "查询当前顾客某个订单的物流：快递公司、单号、最新进度和轨迹。问“到哪了/什么时候到”时用。",
        track_logistics,
        answer_hint="，说出快递公司和最新进度",
    ),
)
