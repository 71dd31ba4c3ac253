"""After-sales flows: the stage table, the flows' bookkeeping, and turns a flow takes — the
order and item resolved in code, the flow's tool run by code, the stage stored with the reply
(a scripted model plays the reading; the real model is measured by the eval suites)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from conftest import NOW
from minishop import ORDERS, write_bundle
from xiaoer.agent.flows import answers, picked, synced
from xiaoer.config import Settings
from xiaoer.domain.flows import Flow, Flows, IllegalMove, Stage
from xiaoer.domain.understanding import Understanding
from xiaoer.llm.base import ChatMessage, Completion, Mode, ToolSpec
from xiaoer.llm.scripted import ScriptedLLM, call, say
from xiaoer.runtime import Runtime
from xiaoer.store.repositories import ConversationRepository
from xiaoer.tools.deps import PastAction

FORM = {"事": "其他", "原因": "无", "情绪": "平静", "人工": "否"}


class Script:
    """Reads each message as the next form in `forms`; answers the turn's own calls from
    `then`, recording which tools each was offered."""

    def __init__(self, forms: list[dict[str, str]], then: list[Completion] | None = None):
        self.forms = [FORM | f for f in forms]
        self.then = list(then or [])
        self.offered: list[list[str]] = []
        self.llm = ScriptedLLM(script=self)

    def __call__(self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec], mode: Mode):
        if tools and tools[0].name == "understand":
            return call("understand", **self.forms.pop(0))
        self.offered.append([t.name for t in tools])
        return self.then.pop(0) if self.then else say("好的。")


async def _open(tmp: Path, llm: ScriptedLLM, **bundle: Any) -> Runtime:
    settings = Settings(home=tmp / "home", now=NOW, secret_key="k", guard=False,
                        understand="cascade")  # fmt: skip
    rt = await Runtime.open(settings, llm=llm)
    await rt.import_shop(write_bundle(tmp / "bundle", **bundle))
    return rt


async def _chat(rt: Runtime, shopper: str, *texts: str) -> list[Any]:
    a = rt.assistant()
    conv = await a.start("mini", shopper)
    return [await a.turn("mini", shopper, t, conversation_id=conv) for t in texts]


async def _flows(rt: Runtime, conversation_id: str) -> list[dict[str, Any]]:
    async with rt.sessions() as s:
        rows = await ConversationRepository(s, "mini").messages(conversation_id)
    return [m.meta.get("flows", {}) for m in rows if m.role == "assistant"]


# --- the stage table and the bookkeeping -------------------------------------------------------


def test_a_flow_moves_only_along_its_table() -> None:
    flow = Flow(kind="cancel")
    checked = flow.to(Stage.CHECK, order_id="SO1")
    assert checked.stage == Stage.CHECK and checked.order_id == "SO1" and flow.order_id == ""
    with pytest.raises(IllegalMove):
        flow.to(Stage.CONFIRM)  # nothing was proposed yet
    done = checked.to(Stage.CONFIRM, action_id="a1").to(Stage.DONE, outcome="executed")
    with pytest.raises(IllegalMove):
        done.to(Stage.CHECK)  # a new request is a new flow


def test_another_topic_sets_the_flow_aside_and_asking_again_takes_it_up() -> None:
    asking = Flow(kind="refund", asked="order", choices=["SO2", "SO1"])
    flows = Flows(active=asking)
    stock = Understanding(want="stock")
    aside = picked(flows, stock, "这款有 43 码吗")
    assert aside.active is None and aside.parked == [asking]
    back = picked(aside, Understanding(want="refund"), "还是那个退款")
    assert back.active == asking and back.parked == []
    # an answer to what it asked keeps the flow; a new request of another kind parks it
    assert picked(flows, Understanding(), "第二个").active == asking
    other = picked(flows, Understanding(want="cancel", acts=True), "取消订单")
    assert other.active == Flow(kind="cancel") and other.parked == [asking]
    asked = picked(flows, Understanding(want="cancel"), "怎么取消订单")  # a question
    assert asked.active is None and asked.parked == [asking]


def test_what_counts_as_an_answer_depends_on_what_was_asked() -> None:
    order = Flow(kind="return", asked="order")
    assert answers(order, Understanding(want="logistics"), "SO1001")
    assert not answers(order, Understanding(want="logistics"), "到哪了")
    reason = Flow(kind="refund", asked="reason")
    assert answers(reason, Understanding(want="product", reason_kind="defect"), "开胶了")
    assert not answers(reason, Understanding(want="product"), "这双多少钱")


def test_flows_learn_what_became_of_their_action() -> None:
    def past(id_: str, tool: str, status: str) -> PastAction:
        return PastAction(id_, tool, "SO1", status, NOW)

    waiting = Flow(kind="cancel", stage=Stage.CONFIRM, order_id="SO1", action_id="a1")
    assert synced(Flows(active=waiting), [past("a1", "cancel_order", "pending")]).active == waiting
    done = synced(Flows(active=waiting), [past("a1", "cancel_order", "executed")]).active
    assert done is not None and done.stage == Stage.DONE and done.outcome == "executed"
    # a declined retention offer, then "还是取消": the original request waits for its yes
    offer = waiting.model_copy(update={"stage": Stage.RETENTION})
    steps = [past("a1", "offer_retention", "declined"), past("a2", "cancel_order", "pending")]
    again = synced(Flows(active=offer), steps).active
    assert again is not None and (again.stage, again.action_id) == (Stage.CONFIRM, "a2")
    # the model proposed at the stage it was given
    check = Flow(kind="cancel", stage=Stage.CHECK, order_id="SO1", asked="details")
    moved = synced(Flows(active=check), [past("a3", "cancel_order", "pending")]).active
    assert moved is not None and moved.stage == Stage.CONFIRM and moved.action_id == "a3"


# --- turns a flow takes ------------------------------------------------------------------------


async def test_the_only_order_that_can_be_cancelled_is_proposed_without_the_model(
    tmp_path: Path,
) -> None:
    script = Script([{"事": "取消订单", "原因": "不想要了", "办理": "是"}])
    rt = await _open(tmp_path, script.llm)
    try:
        [r, yes] = await _chat(rt, "U1", "不想要了，帮我取消", "确认")
        flows = await _flows(rt, r.conversation_id)
    finally:
        await rt.close()
    # U1 has SO1001 (shipped) and SO1002 (not shipped): only SO1002 can be cancelled
    assert [c.name for c in r.tool_calls] == ["list_my_orders", "cancel_order"]
    assert r.llm_calls == 1 and script.offered == []  # the reading only
    assert "SO1002" in r.reply and r.actions[0]["status"] == "pending"
    assert yes.actions[0]["status"] == "executed"
    assert flows[0]["active"]["stage"] == "confirm"
    assert flows[1]["active"]["stage"] == "done" and flows[1]["active"]["outcome"] == "executed"


async def test_a_shop_rule_that_hands_over_is_honoured_when_the_flow_runs_the_tool(
    tmp_path: Path,
) -> None:
    script = Script([{"事": "取消订单", "原因": "不想要了", "办理": "是"}])
    rules = (
        "rules:\n  - when: {request: [cancel], quantity: {min: 2}}\n    then: handoff\n"
        "    reason: 多件订单的取消由人工处理\n"
    )
    rt = await _open(tmp_path, script.llm, policy=rules)
    try:
        [r] = await _chat(rt, "U1", "不想要了，帮我取消")
    finally:
        await rt.close()
    # the flow called cancel_order by code (not the model): the rule still hands over
    assert [c.name for c in r.tool_calls] == ["list_my_orders", "cancel_order"]
    assert script.offered == [] and not r.actions
    assert r.handoff is not None and r.handoff["reason"] == "rule"
    assert r.handoff["detail"] == "多件订单的取消由人工处理"
    assert r.reply.startswith("订单 SO1002 的取消需要由人工客服处理：多件订单的取消由人工处理。")


async def test_which_order_is_asked_then_the_answer_and_the_reason_fill_the_slots(
    tmp_path: Path,
) -> None:
    script = Script(
        [
            {"事": "退款", "办理": "是"},
            {"事": "其他"},
            {"事": "其他", "原因": "质量问题"},
        ]
    )
    rt = await _open(tmp_path, script.llm)
    try:
        ask, second, reason = await _chat(rt, "U1", "我要退款", "第二个", "鞋底开胶了")
        flows = await _flows(rt, ask.conversation_id)
    finally:
        await rt.close()
    assert "1. SO1002" in ask.reply and "2. SO1001" in ask.reply  # newest first
    assert flows[0]["active"] == {
        "kind": "refund", "choices": ["SO1002", "SO1001"], "asked": "order",
    }  # fmt: skip
    # SO1001 has shipped: a refund without a fault is refused, and the flow asks the reason
    assert [c.arguments.get("order_id") for c in second.tool_calls] == ["SO1001"]
    assert flows[1]["active"]["asked"] == "reason" and not second.actions
    assert reason.actions and reason.actions[0]["tool"] == "request_refund"
    assert "SO1001" in reason.actions[0]["summary"]
    assert flows[2]["active"]["stage"] == "confirm"
    assert script.offered == []  # no turn needed the model to choose a tool


async def test_a_question_in_between_parks_the_flow_and_it_comes_back(tmp_path: Path) -> None:
    script = Script(
        [{"事": "退款", "办理": "是"}, {"事": "库存"}, {"事": "退款", "办理": "是"}],
    )
    rt = await _open(tmp_path, script.llm)
    try:
        ask, stock, back = await _chat(rt, "U1", "我要退款", "疾风 3 有 43 码吗", "退款第一个")
        flows = await _flows(rt, ask.conversation_id)
    finally:
        await rt.close()
    assert stock.reply.startswith("疾风 3 男子缓震跑鞋 黑/43：缺货")  # answered from the record
    assert script.offered == []  # no turn needed the model
    assert flows[1] == {"parked": [flows[0]["active"]]}
    # taken up again with its choices: "第一个" is the newest order, SO1002 (not shipped)
    assert back.actions and "SO1002" in back.actions[0]["summary"]


async def test_the_item_of_a_two_item_order_is_asked_and_then_returned(tmp_path: Path) -> None:
    two = {
        **ORDERS[2],
        "id": "SO2002",
        "lines": [
            {"sku_id": "P2-WHT-42", "product_id": "P2", "title": "云跃 Pro 碳板竞速跑鞋",
             "options": {}, "quantity": 1, "unit_price_fen": 89900},
            {"sku_id": "P3-WHT-41", "product_id": "P3", "title": "城市休闲帆布鞋",
             "options": {}, "quantity": 1, "unit_price_fen": 15900},
        ],
        "total_fen": 105800,
        "pay_fen": 105800,
    }  # fmt: skip
    delivered = (NOW - timedelta(days=2)).isoformat()
    two["delivered_at"] = delivered
    script = Script([{"事": "退货", "原因": "不想要了", "办理": "是"}, {"事": "商品咨询"}])
    rt = await _open(tmp_path, script.llm, orders=[*ORDERS, two])
    try:
        which, item = await _chat(rt, "U2", "SO2002 不想要了，退货", "帆布鞋")
    finally:
        await rt.close()
    assert "请问您要办理的是哪一件" in which.reply and not which.actions
    assert item.actions and item.actions[0]["tool"] == "request_return"
    assert "帆布鞋" in item.actions[0]["summary"] and "碳板" not in item.actions[0]["summary"]


async def test_a_question_about_a_change_is_answered_not_started(tmp_path: Path) -> None:
    script = Script([{"事": "退货"}], then=[say("签收后 7 天内支持无理由退货。")])
    rt = await _open(tmp_path, script.llm)
    try:
        [r] = await _chat(rt, "U2", "你们支持七天无理由退货吗")
        flows = await _flows(rt, r.conversation_id)
    finally:
        await rt.close()
    assert r.reply == "签收后 7 天内支持无理由退货。" and not r.actions
    assert flows == [{}] and "request_return" in script.offered[0]


async def test_a_slot_code_cannot_read_goes_to_the_model_with_the_stage_tools_only(
    tmp_path: Path,
) -> None:
    # the model copies a wrong order number: the flow's order is the one acted on
    script = Script(
        [{"事": "发票", "办理": "是"}],
        then=[call("request_invoice", order_id="SO9", title="杭州小二科技有限公司",
                   tax_id="91330100MA27XXXX1A")],
    )  # fmt: skip
    rt = await _open(tmp_path, script.llm)
    try:
        [r] = await _chat(rt, "U1", "开个发票，抬头杭州小二科技有限公司，税号91330100MA27XXXX1A")
    finally:
        await rt.close()
    assert script.offered == [["request_invoice", "get_order", "handoff"]]
    invoice = [c for c in r.tool_calls if c.name == "request_invoice"]
    assert invoice and invoice[0].arguments["order_id"] == "SO1001"  # the only one invoiceable


async def test_money_back_for_delivered_goods_is_their_return(tmp_path: Path) -> None:
    script = Script(
        [
            {"事": "退款", "办理": "是", "原因": "不想要了"},
            {"事": "退款", "办理": "是", "原因": "少件发错"},
        ]
    )
    rt = await _open(tmp_path, script.llm)
    try:
        [kept] = await _chat(rt, "U2", "SO2001 没穿过，不想要了，退款吧")
        [missing] = await _chat(rt, "U2", "SO2001 盒子里少了一只鞋，退款")
    finally:
        await rt.close()
    # decided by the return's terms (signed 7 days ago: past the no-reason window), not
    # refused as a refund-only request on a shipped order
    assert [c.name for c in kept.tool_calls] == ["request_return"]
    assert "无理由退货期限" in kept.reply and "仅退款" not in kept.reply
    # nothing to send back when it did not arrive right: the refund it was asked as
    assert [c.name for c in missing.tool_calls] == ["request_refund"]


async def test_undoing_a_delivered_order_is_its_return(tmp_path: Path) -> None:
    """Seen on the tuned suite: "SO… 的…有点贵，想退掉" of a delivered order read as 取消, and
    refused with the states an order can be cancelled in."""
    script = Script(
        [
            {"事": "取消订单", "办理": "是", "原因": "不想要了"},
            {"事": "取消订单", "办理": "是", "原因": "拍错了"},
        ]
    )
    rt = await _open(tmp_path, script.llm)
    try:
        [delivered] = await _chat(rt, "U2", "SO2001 不想要了，退掉吧")
        [waiting] = await _chat(rt, "U1", "SO1002 拍错了，取消")
    finally:
        await rt.close()
    assert [c.name for c in delivered.tool_calls] == ["request_return"]
    assert "无理由退货期限" in delivered.reply and "待发货" not in delivered.reply
    assert [c.name for c in waiting.tool_calls] == ["cancel_order"]  # not shipped: a cancel


async def test_a_request_on_an_order_already_in_after_sale_is_answered_from_its_record(
    tmp_path: Path,
) -> None:
    """An order has one after-sale case at a time: a message read as asking for another (a
    refund, here) is about the case under way, and the model answers from the order's record —
    its progress and the shop's next step — instead of a refusal. The record's own answer is the
    reply (seen: the model wrote "订单状态：售后中" from it and stopped)."""
    returned = ORDERS[2] | {
        "status": "售后中",
        "extras": {
            "after_sale": {
                "type": "退货退款",
                "reason": "尺码不合适",
                "status": "买家已寄回，待商家收货",
                "applied_at": "2026-11-15T10:00:00+08:00",
                "return_shipment": {"carrier": "中通快递", "tracking_no": "7300009"},
                "refund_fen": 89900,
            }
        },
    }
    script = Script(
        [{"事": "退款", "办理": "是"}],
        [say("鞋子已寄回，仓库签收后 48 小时内验货，通过后退款 ¥899。")],
    )
    rt = await _open(tmp_path, script.llm, orders=[*ORDERS[:2], returned])
    try:
        [r] = await _chat(rt, "U2", "鞋已经寄回去了，订单 SO2001，钱什么时候退给我？")
    finally:
        await rt.close()
    assert [c.name for c in r.tool_calls] == ["get_order"] and not r.actions
    record = r.tool_calls[0].result
    assert "售后：类型退货退款，原因尺码不合适，进度买家已寄回，待商家收货" in record
    assert "退回快递中通快递 7300009，退款金额¥899" in record
    assert "仓库签收后48小时内验货，通过后原路退款" in record  # the shop's policy, not the model's
    assert r.reply == (
        "您的订单 SO2001 的退货退款：买家已寄回，待商家收货，退款金额¥899。"
        "商品寄回、仓库签收后48小时内验货，通过后原路退款（支付宝、微信即时到账，信用卡 1-3 个工作日）。"
    )
    assert r.llm_calls == 1  # the reading: the record answers


async def test_a_size_reading_that_acts_on_a_named_order_is_its_exchange(tmp_path: Path) -> None:
    """Seen on the tuned suite: "SO… 的鞋小了，想换成 42 码" read as 选规格, 办理 是, 原因 不合适,
    and answered with a product search. It is a request to exchange that order's goods."""
    script = Script([{"事": "选规格", "办理": "是", "原因": "不合适"}, {"事": "库存", "办理": "是"},
                     {"事": "选规格"}])  # fmt: skip
    rt = await _open(tmp_path, script.llm)
    try:
        [r] = await _chat(rt, "U2", "SO2001 的鞋小了，想换成 43 码")
        [same] = await _chat(rt, "U2", "SO2001 的鞋想换成 43 码，还是白色")
        [asked] = await _chat(rt, "U2", "云跃 Pro 碳板竞速跑鞋我该拍几码")
    finally:
        await rt.close()
    for turn in (r, same):
        assert "request_exchange" in [c.name for c in turn.tool_calls]
        assert "search_products" not in [c.name for c in turn.tool_calls]
    assert "request_exchange" not in [c.name for c in asked.tool_calls]  # a question, no order


async def test_a_message_is_no_address_and_a_phone_number_no_order(tmp_path: Path) -> None:
    script = Script([{"事": "改地址", "办理": "是"}, {"事": "改地址", "办理": "是"}])
    rt = await _open(tmp_path, script.llm)
    try:
        ask, given = await _chat(
            rt, "U1", "SO1002 还没发货吧？帮我改寄到家里",
            "新地址是 上海市浦东新区张杨路 1200 号 6 号楼 302，王芳，13812345678",
        )  # fmt: skip
    finally:
        await rt.close()
    # seen: the first message itself proposed as the new address, and confirmed
    assert not ask.actions and "请把新的收货地址" in ask.reply
    # the phone number is not read as an order: the flow's order gets the new address
    assert [c.arguments.get("order_id") for c in given.tool_calls] == ["SO1002"]
    assert given.actions and given.actions[0]["tool"] == "change_address"
    summary = given.actions[0]["summary"]
    assert "订单 SO1002 的收货地址改为：上海市浦东新区张杨路1200号6号楼302" in summary
