"""The shop's own rules (`rules:` in policy.yaml) as the tools honour them, one test per after-sales
gap of issue 17: a real shop's written rule, its YAML, and what the tool then does."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from importlib.resources import files
from zoneinfo import ZoneInfo

from conftest import NOW
from xiaoer.commerce.fake import FakeCommerce
from xiaoer.domain.models import (
    Address,
    Change,
    LogisticsEvent,
    Order,
    OrderLine,
    OrderStatus,
    Product,
    Shipment,
    Shop,
    Shopper,
    Sku,
)
from xiaoer.domain.understanding import Understanding
from xiaoer.policy import load_policy
from xiaoer.policy.schema import ShopPolicy
from xiaoer.tools.base import ToolResult
from xiaoer.tools.deps import PastAction, TurnDeps
from xiaoer.tools.registry import BY_NAME

ADDR = Address("王芳", "13812345678", "浙江省", "杭州市", "西湖区", "文三路 100 号")
ME = Shopper("U1", "王芳", "13812345678", (ADDR,))
KETTLE = Product(
    "K1", "不锈钢电水壶 1.7L", "厨房电器", "家乐", "", {},
    (Sku("K1-S", "K1", {"颜色": "银色"}, 19900, 5), Sku("K1-B", "K1", {"颜色": "黑色"}, 19900, 5)),
)  # fmt: skip
MUG = Product("M1", "陶瓷马克杯", "餐具", "家乐", "", {}, (Sku("M1-W", "M1", {}, 3900, 50),))
KETTLE_LINE = OrderLine("K1-S", "K1", KETTLE.title, {"颜色": "银色"}, 19900, 1)
MUG_LINE = OrderLine("M1-W", "M1", MUG.title, {}, 3900, 1)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def order(oid: str, status: str, *lines: OrderLine, **kw: object) -> Order:
    lines = lines or (KETTLE_LINE,)
    pay = sum(ln.unit_price_fen * ln.quantity for ln in lines)
    base = Order(oid, "U1", OrderStatus(status), NOW - timedelta(days=12), lines, pay, pay, ADDR,
                 paid_at=NOW - timedelta(days=12), delivered_at=NOW - timedelta(days=2))  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


def deps(
    policy: ShopPolicy,
    *said: str,
    orders: tuple[Order, ...] = (),
    shop: Shop | None = None,
    readings: tuple[Understanding, ...] = (),
    past: tuple[PastAction, ...] = (),
    now: datetime = NOW,
) -> TurnDeps:
    commerce = FakeCommerce(orders=orders, products=(KETTLE, MUG), shoppers=[ME])
    return TurnDeps(shop or Shop("s", "家乐厨具店"), ME, commerce, now, said=list(said),
                    policy=policy, readings=list(readings), past_actions=list(past))  # fmt: skip


async def run(tool: str, d: TurnDeps, **args: object) -> ToolResult:
    return await BY_NAME[tool].run(d, dict(args))


# 1. windows follow the shop's calendar and timezone


async def test_seven_days_are_calendar_days_from_the_day_after_delivery() -> None:
    # delivered 11-13 09:00, asked 11-20 14:00: 7.2×24 h later, but the 7th calendar day
    got = order("SO1", "已签收", delivered_at=datetime(2026, 11, 13, 9, tzinfo=SHANGHAI))
    elapsed = load_policy("retention: {enabled: false}")
    calendar = load_policy("retention: {enabled: false}\nwindows: {days: calendar}")
    said = "SO1 不想要了，退货"
    late = await run("request_return", deps(elapsed, said, orders=(got,)), order_id="SO1")
    assert late.proposal is None and "已超过7天无理由退货期限" in (late.reply or "")
    ok = await run("request_return", deps(calendar, said, orders=(got,)), order_id="SO1")
    assert ok.proposal is not None
    # the shop's timezone decides the day: 11-13 01:00 in Shanghai is 11-12 in UTC
    night = replace(got, delivered_at=datetime(2026, 11, 13, 1, tzinfo=SHANGHAI))
    here = await run("request_return", deps(calendar, said, orders=(night,)), order_id="SO1")
    utc = Shop("s", "店", timezone="UTC")
    there = await run(
        "request_return", deps(calendar, said, orders=(night,), shop=utc), order_id="SO1"
    )
    assert here.proposal is not None and there.proposal is None


# 2. exchange only for quality problems; days: 0 said properly


async def test_exchange_only_for_quality_problems() -> None:
    rule = load_policy(
        """
rules:
  - when: {request: [exchange], quality: false}
    then: deny
    reason: 本店只为质量问题换货，不合适的话可以在7天内申请退货
"""
    )
    got = order("SO2", "已签收")
    # refused before asking which colour: no question for an exchange that cannot be
    no = await run("request_exchange", deps(rule, "SO2 想换个颜色", orders=(got,)), order_id="SO2")
    assert no.proposal is None and no.reply == (
        "抱歉，订单 SO2 本店只为质量问题换货，不合适的话可以在7天内申请退货。"
    )
    assert no.data["verdict"]["rule"] == "rules.0"
    broken = deps(rule, "SO2 水壶坏了，不能加热，换个新的", orders=(got,))
    yes = await run("request_exchange", broken, order_id="SO2")
    assert yes.proposal is not None and "换同型号新品" in yes.proposal.summary


async def test_exchange_days_zero_means_no_no_reason_exchange() -> None:
    quality_only = load_policy("exchange: {days: 0, quality_days: 15}")
    got = order("SO3", "已签收", delivered_at=NOW - timedelta(days=1))
    no = await run(
        "request_exchange", deps(quality_only, "SO3 换成黑色", orders=(got,)), order_id="SO3"
    )
    assert no.proposal is None and "超过0天" not in (no.reply or "")
    assert "只为质量问题换货" in (no.reply or "")
    none = load_policy("exchange: {days: 0, quality_days: 0, per_order: 0}")
    no = await run("request_exchange", deps(none, "SO3 坏了换新", orders=(got,)), order_id="SO3")
    assert "本店不支持换货" in (no.reply or "") and "0次" not in (no.reply or "")


# 3. return-shipping compensation, recorded with the return


async def test_quality_returns_get_the_return_shipping_back() -> None:
    rule = load_policy(
        """
retention: {enabled: false}
rules:
  - when: {request: [return, exchange], quality: true}
    then: compensate
    amount: 25
    reason: 寄回运费补偿
"""
    )
    got = order("SO4", "已签收")
    result = await run(
        "request_return", deps(rule, "SO4 壶底漏水，质量问题退货", orders=(got,)), order_id="SO4"
    )
    p = result.proposal
    assert p is not None and p.amount_fen == 19900  # the refund stays the goods' share
    assert p.change.amount_fen == 19900 and p.change.detail["compensation_fen"] == 2500
    assert p.change.order_extras["after_sale"]["compensation_fen"] == 2500
    assert "寄回运费补偿¥25" in p.summary
    plain = await run("request_return", deps(rule, "SO4 不想要了", orders=(got,)), order_id="SO4")
    assert plain.proposal is not None and "compensation_fen" not in plain.proposal.change.detail


# 4. lost parcel: the shopper picks a reship or a refund; 5. stalled tracking: a human

LOST = """
rules:
  - when: {request: [logistics], status: [已发货], tracking_says: [丢失, 遗失]}
    then: ask
    say: 很抱歉，快递显示包裹已丢失。可以为您重新补发，也可以全额退款，请问您选哪一种？
    evidence: [补发, 退款]
  - when: {request: [refund], status: [已发货], tracking_says: [丢失, 遗失]}
    then: allow
    reason: 快递丢件，全额退款
  - when: {request: [exchange], status: [已发货], tracking_says: [丢失, 遗失]}
    then: handoff
    reason: 快递丢件，顾客要补发
  - when: {request: [logistics, urge, refund], tracking_still_hours: {over: 72}}
    then: handoff
    reason: 物流超过72小时没有更新，需要人工向快递催查
"""


def shipped(
    oid: str, last: datetime, status: str = "运输中", detail: str = "到达杭州转运中心"
) -> Order:
    events = (LogisticsEvent(last, status, detail),)
    return order(oid, "已发货", delivered_at=None,
                 shipment=Shipment("顺丰速运", "SF1", events))  # fmt: skip


async def test_a_lost_parcel_offers_a_reship_or_a_refund() -> None:
    policy = load_policy(LOST)
    lost = shipped("SO5", NOW - timedelta(hours=10), "异常", "快件丢失，正在核实")
    d = deps(policy, "SO5 到哪了", orders=(lost,))
    asked = await run("track_logistics", d, order_id="SO5")
    assert asked.reply and "补发" in asked.reply and asked.data["asks"] == "details"
    assert "快件丢失" in asked.text  # the model still reads the tracking
    # a refund: the whole payment, no quality reason needed
    refund = await run("request_refund", deps(policy, "SO5 那就退款吧", orders=(lost,)),
                       order_id="SO5")  # fmt: skip
    assert refund.proposal is not None and refund.proposal.amount_fen == 19900
    # without the rule, a shipped order's refund needs a quality reason
    plain = load_policy("")
    no = await run("request_refund", deps(plain, "SO5 退款", orders=(lost,)), order_id="SO5")
    assert no.proposal is None
    # a reship (a new one of the same item): the human arranges it
    d = deps(policy, "SO5 给我补发一个", orders=(lost,))
    reship = await run("request_exchange", d, order_id="SO5")
    assert reship.data["handoff"] == "快递丢件，顾客要补发" and d.handoffs == [
        "快递丢件，顾客要补发"
    ]


async def test_tracking_still_for_over_72_hours_goes_to_a_human() -> None:
    policy = load_policy(LOST)
    stalled = shipped("SO6", NOW - timedelta(hours=80))
    d = deps(policy, "SO6 怎么还没到", orders=(stalled,))
    result = await run("track_logistics", d, order_id="SO6")
    reason = "物流超过72小时没有更新，需要人工向快递催查"
    assert result.data["handoff"] == reason and d.handoffs == [reason]
    assert "到达杭州转运中心" in result.text
    moving = shipped("SO7", NOW - timedelta(hours=30))
    d = deps(policy, "SO7 怎么还没到", orders=(moving,))
    result = await run("track_logistics", d, order_id="SO7")
    assert "handoff" not in result.data and not d.handoffs


# 6. bulk orders and special VAT invoices go to a human

BULK = """
invoice: {types: [电子普通发票, 增值税专用发票], states: [已签收, 已完成]}
rules:
  - when: {request: [cancel, refund, return, exchange], quantity: {min: 20}}
    then: handoff
    reason: 批量订单（20件及以上）的售后由人工处理
  - when: {request: [refund, return], paid: {over: 3000}}
    then: handoff
    reason: 3000元以上的退款由人工审核
  - when: {request: [invoice], invoice_type: [增值税专用发票]}
    then: handoff
    reason: 增值税专用发票需要人工核对开票资料
"""


async def test_bulk_orders_and_special_invoices_go_to_a_human() -> None:
    policy = load_policy(BULK)
    bulk = order("SO8", "待发货", replace(MUG_LINE, quantity=24))
    d = deps(policy, "SO8 取消订单", orders=(bulk,))
    cancel = await run("cancel_order", d, order_id="SO8", reason="不想要了")
    assert cancel.proposal is None and cancel.data["handoff"].startswith("批量订单")
    assert cancel.reply and cancel.reply.startswith("订单 SO8 的取消需要由人工客服处理")
    small = order("SO9", "待发货", MUG_LINE)
    d = deps(policy, "SO9 取消订单", orders=(small,))
    assert (await run("cancel_order", d, order_id="SO9")).proposal is not None
    got = order("SO10", "已签收")
    d = deps(policy, "SO10 开专票", orders=(got,))
    vat = await run("request_invoice", d, order_id="SO10", type="专票")
    assert vat.data["handoff"] == "增值税专用发票需要人工核对开票资料"
    assert vat.proposal is None and d.handoffs
    d = deps(policy, "SO10 开个人发票", orders=(got,))
    plain = await run("request_invoice", d, order_id="SO10")
    assert plain.proposal is not None and not d.handoffs


# 7. a 90-day invoice window


async def test_invoices_within_90_days_of_delivery() -> None:
    policy = load_policy(
        """
invoice: {states: [已签收, 已完成]}
rules:
  - when: {request: [invoice], days_since_delivery: {over: 90}}
    then: deny
    reason: 签收超过90天的订单不能再开发票
"""
    )
    old = order("SO11", "已完成", delivered_at=NOW - timedelta(days=95))
    no = await run("request_invoice", deps(policy, "SO11 开发票", orders=(old,)), order_id="SO11")
    assert no.proposal is None and "超过90天" in (no.reply or "")
    recent = replace(old, delivered_at=NOW - timedelta(days=30))
    ok = await run("request_invoice", deps(policy, "SO11 开发票", orders=(recent,)),
                   order_id="SO11")  # fmt: skip
    assert ok.proposal is not None


# 8. a missing item refunds that item's share, not the whole order


async def test_a_missing_item_refunds_its_paid_share() -> None:
    policy = load_policy(
        """
retention: {enabled: false}
rules:
  - when: {request: [refund], status: [已签收, 已完成], reason_kind: [missing_or_wrong]}
    then: allow
    refund: item
    reason: 少发的商品按实付金额退款
"""
    )
    both = order("SO12", "已签收", KETTLE_LINE, MUG_LINE, pay_fen=21800)  # ¥20 off the ¥238
    missing = Understanding(want="refund", acts=True, reason="少发", reason_kind="missing_or_wrong")
    d = deps(policy, "SO12 少发了马克杯，退款", orders=(both,), readings=(missing,))
    result = await run("request_refund", d, order_id="SO12", reason="少发了马克杯")
    p = result.proposal
    assert p is not None and p.amount_fen == 21800 * 3900 // 23800  # the mug's paid share
    assert "陶瓷马克杯" in p.summary and p.arguments["item"] == MUG.title
    # the same request without the rule: the whole order
    whole = await run("request_refund", replace(d, policy=load_policy("")), order_id="SO12")
    assert whole.proposal is not None and whole.proposal.amount_fen == 21800
    # nothing names the item: which one is asked
    vague = deps(policy, "SO12 少发了，退款", orders=(both,), readings=(missing,))
    which = await run("request_refund", vague, order_id="SO12")
    assert which.data.get("asks") == "item"


# ask for evidence before proposing


async def test_a_quality_refund_asks_for_a_photo_first() -> None:
    policy = load_policy(
        """
rules:
  - when: {request: [refund, return], quality: true}
    then: ask
    say: 麻烦拍一张能看清问题的照片发给我，我马上为您处理。
"""
    )
    got = order("SO13", "已签收")
    d = deps(policy, "SO13 收到就是坏的，退款", orders=(got,))
    asked = await run("request_refund", d, order_id="SO13")
    assert asked.proposal is None and asked.data["asks"] == "details"
    assert asked.reply == "麻烦拍一张能看清问题的照片发给我，我马上为您处理。"
    d = deps(policy, "SO13 收到就是坏的，退款", "照片已上传", orders=(got,))
    assert (await run("request_refund", d, order_id="SO13")).proposal is not None
    # the built-in check first: a cancelled order is refused, not asked for a photo
    gone = replace(got, status=OrderStatus.CANCELLED)
    d = deps(policy, "SO13 收到就是坏的，退款", orders=(gone,))
    assert "已经取消" in ((await run("request_refund", d, order_id="SO13")).reply or "")


async def test_a_fault_only_the_reading_saw_asks_before_it_opens_a_closed_return() -> None:
    # opened goods are out of the no-reason return; "音质一般" read as a fault, no defect said
    policy = load_policy(
        """
returns:
  exclusions: [{categories: [厨房电器], said: [拆开], reason: 电器拆开后不支持7天无理由退货}]
"""
    )
    got = order("SO18", "已签收")
    fault = Understanding(want="return", acts=True, reason="音质一般", reason_kind="defect")
    d = deps(policy, "SO18 拆开试了，音质一般，想退", orders=(got,), readings=(fault,))
    asked = await run("request_return", d, order_id="SO18")
    assert asked.proposal is None and asked.data["asks"] == "details"
    assert asked.reply is not None and "拆开后不支持" in asked.reply and "照片或视频" in asked.reply
    # the shopper's words show it (a quality word, or a photo): the quality return is proposed
    for more in ("左边没声音，质量问题", "拍了视频"):
        shown = await run("request_return", replace(d, said=[*d.said, more]), order_id="SO18")
        assert shown.proposal is not None and "店铺承担" in shown.proposal.summary
    # not opened, or past the 7 days: no exclusion to open, the reading decides
    late = replace(got, delivered_at=NOW - timedelta(days=10))
    past = deps(policy, "SO18 拆开试了，音质一般，想退", orders=(late,), readings=(fault,))
    assert (await run("request_return", past, order_id="SO18")).proposal is not None
    sealed = deps(policy, "SO18 音质一般，想退", orders=(got,), readings=(fault,))
    assert (await run("request_return", sealed, order_id="SO18")).proposal is not None


async def test_a_fault_in_the_merchants_words_counts_when_no_reason_was_read() -> None:
    """Seen on the tuned suite: "…左耳没声音，能换个新的吗？" read as an exchange with no reason,
    then asked which colour to change to. The merchant's quality words decide; a word inside
    the item's own name does not."""
    policy = load_policy("exchange: {days: 0, quality_days: 15}")
    got = order("SO19", "已签收")
    plain = Understanding(want="exchange", acts=True)
    d = deps(policy, "SO19 收到就坏了，换个新的", orders=(got,), readings=(plain,))
    swap = await run("request_exchange", d, order_id="SO19")
    assert swap.proposal is not None and "检测确认后换同型号新品" in swap.proposal.summary
    named = replace(got, lines=(replace(KETTLE_LINE, title="坏了也能修电水壶"),))
    d = deps(policy, "SO19 坏了也能修电水壶换个新的", orders=(named,), readings=(plain,))
    refused = await run("request_exchange", d, order_id="SO19")
    assert refused.proposal is None and "质量问题" in (refused.reply or "")


# 9. retention


RETAIN = """
retention:
  when_reason: [贵]
  offers:
    - {kind: coupon, amount: 5, max_order: 99}
    - {kind: coupon, amount: 20, min_order: 99}
rules:
  - when: {request: [cancel]}
    then: no_offer
  - when: {request: [return, refund], reason_kind: [price, changed_mind]}
    then: offer
"""


async def test_retention_triggers_by_reason_kind_and_prices_the_returned_item() -> None:
    policy = load_policy(RETAIN)
    both = order("SO14", "已签收", KETTLE_LINE, MUG_LINE)
    changed = Understanding(want="return", acts=True, reason="不想要了", reason_kind="changed_mind")
    d = deps(policy, "SO14 马克杯不想要了，退货", orders=(both,), readings=(changed,))
    result = await run("request_return", d, order_id="SO14", item="马克杯")
    p = result.proposal
    # offered on the reading, not on a word; priced on the mug (¥39), not the order (¥238)
    assert p is not None and p.tool == "offer_retention" and p.amount_fen == 500
    # no reason kind read and none of the words: no offer
    d = deps(policy, "SO14 马克杯退货", orders=(both,))
    plain = await run("request_return", d, order_id="SO14", item="马克杯")
    assert plain.proposal is not None and plain.proposal.tool == "request_return"


async def test_no_offer_where_the_shop_says_so_or_the_order_had_one() -> None:
    policy = load_policy(RETAIN)
    open_order = order("SO15", "待发货", delivered_at=None)
    price = Understanding(want="cancel", acts=True, reason="太贵了", reason_kind="price")
    d = deps(policy, "SO15 太贵了，取消", orders=(open_order,), readings=(price,))
    cancel = await run("cancel_order", d, order_id="SO15", reason="太贵了")
    assert cancel.proposal is not None and cancel.proposal.tool == "cancel_order"
    # a refund of the same unshipped order would get one...
    price = Understanding(want="refund", acts=True, reason="太贵了", reason_kind="price")
    d = deps(policy, "SO15 太贵了，退款", orders=(open_order,), readings=(price,))
    first = await run("request_refund", d, order_id="SO15", reason="太贵了")
    assert first.proposal is not None and first.proposal.tool == "offer_retention"
    # ...but not once the order had an offer, in a chat or in the shop's ledger
    earlier = PastAction("a1", "offer_retention", "SO15", "declined", NOW - timedelta(days=1))
    d = deps(policy, "SO15 太贵了，退款", orders=(open_order,), readings=(price,), past=(earlier,))
    again = await run("request_refund", d, order_id="SO15", reason="太贵了")
    assert again.proposal is not None and again.proposal.tool == "request_refund"
    d = deps(policy, "SO15 太贵了，退款", orders=(open_order,), readings=(price,))
    await d.commerce.apply(Change("k1", "retention", "U1", "SO15", 500, "已发放"))
    ledger = await run("request_refund", d, order_id="SO15", reason="太贵了")
    assert ledger.proposal is not None and ledger.proposal.tool == "request_refund"


# limits per order, per shopper and per period


async def test_a_limit_on_refunds_per_shopper_per_month() -> None:
    policy = load_policy(
        """
rules:
  - when:
      request: [refund, return]
      done: {requests: [refund, return], per: shopper, days: 30, min: 2}
    then: handoff
    reason: 30天内已有2次退款退货，由人工处理
"""
    )
    got = order("SO16", "已签收")
    said = "SO16 坏了，退款"

    def past(*ages: int) -> tuple[PastAction, ...]:
        return tuple(
            PastAction(f"a{i}", "request_refund", f"X{i}", "executed", NOW - timedelta(days=a))
            for i, a in enumerate(ages)
        )

    d = deps(policy, said, orders=(got,), past=past(3, 40))  # one within 30 days
    assert (await run("request_refund", d, order_id="SO16")).proposal is not None
    d = deps(policy, said, orders=(got,), past=past(3, 10))
    assert (await run("request_refund", d, order_id="SO16")).data.get("handoff")


# the demo shops' rules, as their policy.md states them


async def test_stride_compensates_return_shipping_and_refunds_a_lost_parcel() -> None:
    text = (files("xiaoer.demo") / "policy_stride.yaml").read_text(encoding="utf-8")
    stride = load_policy(text)
    got = order("SO17", "已签收")
    d = deps(stride, "SO17 质量问题，退货", orders=(got,))
    back = await run("request_return", d, order_id="SO17")
    assert back.proposal is not None and back.proposal.change.detail["compensation_fen"] == 2000
    lost = shipped("SO18", NOW - timedelta(hours=5), "异常", "快件遗失")
    refund = await run("request_refund", deps(stride, "SO18 退款", orders=(lost,)), order_id="SO18")
    assert refund.proposal is not None and refund.proposal.amount_fen == 19900
