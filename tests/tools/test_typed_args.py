"""Typed tools: arguments are validated before a tool runs; a bad one is answered with a retry
hint naming the argument and what it should be; the model's known sloppiness is tolerated; the
arguments only code sets are not the model's to set."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic.json_schema import SkipJsonSchema

from xiaoer.commerce.fake import FakeCommerce
from xiaoer.domain.models import Address, Order, OrderLine, OrderStatus, Shop, Shopper
from xiaoer.policy import load_policy
from xiaoer.tools.aftersales import CancelArgs, RefundArgs
from xiaoer.tools.args import RETRY, ToolArgs, asked
from xiaoer.tools.base import ToolResult, typed
from xiaoer.tools.catalog import ProductArgs, SearchArgs
from xiaoer.tools.deps import TurnDeps
from xiaoer.tools.orders import OrderArgs
from xiaoer.tools.registry import BY_NAME, run_tool
from xiaoer.tools.services import InvoiceArgs

NOW = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
ORDER = Order(
    "SO9", "U1", OrderStatus.PENDING_SHIPMENT, NOW,
    (OrderLine("K1", "P1", "保温杯", {"颜色": "白色"}, 5900, 1),), 5900, 5900,
    Address("王芳", "13812345678", "浙江省", "杭州市", "西湖区", "文三路 100 号"),
)  # fmt: skip
NEVER: Any = None
"""Deps for calls that must be answered before the tool runs."""


def _deps(said: str) -> TurnDeps:
    shopper = Shopper("U1", "王芳", "13812345678")
    commerce = FakeCommerce(orders=[ORDER], shoppers=[shopper])
    policy = load_policy("retention: {enabled: false}")
    return TurnDeps(Shop("s", "店"), shopper, commerce, NOW, said=[said], policy=policy)


async def _call(name: str, args: dict[str, Any], deps: TurnDeps = NEVER) -> ToolResult:
    result, _ = await run_tool(BY_NAME, name, args, deps)
    return result


async def test_bad_arguments_get_a_retry_hint_naming_the_argument() -> None:
    missing = await _call("apply_coupon", {})
    assert not missing.ok and missing.data == {"invalid": ["coupon"]}
    assert missing.text == f"参数不对：coupon 必须填（券的编号或名称）。{RETRY}"
    status = await _call("list_my_orders", {"status": "已送达"})
    assert not status.ok and "status 只能是 待付款、待发货、已发货" in status.text
    assert "不需要就不填" in status.text
    price = await _call("search_products", {"keyword": "跑鞋", "max_price": "三百"})
    assert not price.ok and "max_price 要填数字，收到的是“三百”" in price.text
    both = await _call("get_order", {"order_id": ["SO9"], "x": 1})
    assert not both.ok and "order_id 要填文字" in both.text and both.reply is None


async def test_a_copy_of_the_description_is_still_refused_first() -> None:
    copied = await _call("cancel_order", {"order_id": "SO9", "reason": "顾客说的原因"})
    assert not copied.ok and "参数 reason" in copied.text and "问顾客" in copied.text


def test_the_models_known_sloppiness_is_tolerated() -> None:
    assert OrderArgs.model_validate({"order_id": 2611180029}).order_id == "2611180029"
    assert OrderArgs.model_validate({}).order_id == ""  # → the shopper's orders, "which one?"
    assert OrderArgs.model_validate({"order_id": None}).order_id == ""
    search = SearchArgs.model_validate({"max_price": "¥1,000", "min_price": "", "size": 42})
    assert (search.keyword, search.max_price, search.min_price, search.size) == ("", 1000, 0, "42")
    assert SearchArgs.model_validate({"max_price": "300元"}).max_price == 300
    assert ProductArgs.model_validate({"name": " 云跃 Pro "}).product_id == "云跃 Pro"
    assert InvoiceArgs.model_validate({"type": "专票"}).type == "增值税专用发票"
    assert InvoiceArgs.model_validate({"type": "纸质发票"}).type == "电子普通发票"
    assert RefundArgs.model_validate({"reason": "不想要了" * 40}).reason == ("不想要了" * 25)


async def test_an_order_id_with_spaces_a_hash_or_as_a_number_is_found() -> None:
    for given in ("#so9", " SO 9 ", "so9"):
        assert (await _call("get_order", {"order_id": given}, _deps("SO9 到哪了"))).ok, given


class ActArgs(ToolArgs):
    order_id: str = asked("订单号")
    skip: SkipJsonSchema[bool] = False


async def test_arguments_only_code_sets_are_dropped_from_the_models_calls() -> None:
    seen: list[bool] = []

    async def act(deps: TurnDeps, args: ActArgs) -> ToolResult:
        seen.append(args.skip)
        return ToolResult(True, "ok")

    tool = typed("act", "做事", act)
    assert tool.spec.parameters == {
        "type": "object",
        "properties": {"order_id": {"type": "string", "description": "订单号"}},
        "required": ["order_id"],
    }
    await run_tool({"act": tool}, "act", {"order_id": "SO9", "skip": True}, NEVER)
    await tool.run(NEVER, {"order_id": "SO9", "skip": True})  # the action desk's stored args
    assert seen == [False, True]


async def test_a_proposal_carries_the_normalised_arguments_to_run_it_again() -> None:
    deps = _deps("SO9 拍错了，取消")
    result = await _call("cancel_order", {"order_id": "#so9", "reason": " 拍错了 "}, deps)
    p = result.proposal
    assert p is not None and p.tool == "cancel_order" and p.order_id == "SO9"
    assert p.arguments == {"order_id": "SO9", "reason": "拍错了", "skip_retention": True}
    assert CancelArgs.model_validate(p.arguments).skip_retention
    assert (p.change.kind, p.change.order_id, p.change.shopper_id) == ("cancel", "SO9", "U1")
    assert p.amount_fen == p.change.amount_fen == 5900 and p.change.key == ""
    again = await BY_NAME["cancel_order"].run(deps, p.arguments)
    assert again.proposal is not None and again.proposal.summary == p.summary
