"""The fourth example shop, 毛球宠物生活馆 (`examples/shops/maoqiu/`): a pet-supplies shop whose
`policy.yaml` was written from its plain-language rule sheet (`policy.md`) with no code change.

The bundle is imported into a fresh store the way `xiaoer shop import` does it, and each rule of
the sheet (numbered as in policy.md) is exercised through the real tools the model calls, on the
bundle's own orders. Now is 2026-12-03 15:00 in the shop's timezone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from xiaoer.cli import app
from xiaoer.commerce.bundle import load_bundle
from xiaoer.config import Settings
from xiaoer.domain.understanding import Understanding
from xiaoer.policy.ruleset import Windows
from xiaoer.policy.schema import ShopPolicy
from xiaoer.runtime import Runtime
from xiaoer.store.repositories import ShopRepository
from xiaoer.tools.base import ToolResult
from xiaoer.tools.deps import TurnDeps
from xiaoer.tools.registry import BY_NAME

BUNDLE = Path(__file__).resolve().parents[2] / "examples" / "shops" / "maoqiu"
SHOP = "maoqiu"
NOW = datetime(2026, 12, 3, 15, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture
async def shop(tmp_path: Path) -> AsyncIterator[Runtime]:
    settings = Settings(
        home=tmp_path / "home", now=NOW, secret_key="test-secret", guard=False, embeddings=False
    )
    rt = await Runtime.open(settings)
    await rt.import_shop(BUNDLE, knowledge=False)
    yield rt
    await rt.close()


async def call(
    rt: Runtime,
    shopper_id: str,
    tool: str,
    *said: str,
    readings: tuple[Understanding, ...] = (),
    policy: ShopPolicy | None = None,
    **args: object,
) -> tuple[ToolResult, TurnDeps]:
    """Run `tool` as the model would call it for this shopper, who wrote `said`."""
    commerce = rt.commerce(SHOP)
    shopper = await commerce.get_shopper(shopper_id)
    async with rt.sessions() as s:
        profile = await ShopRepository(s).get(SHOP)
    assert shopper is not None and profile is not None
    deps = TurnDeps(
        profile, shopper, commerce, NOW, said=list(said),
        policy=policy or await rt.policy(SHOP), readings=list(readings),
    )  # fmt: skip
    return await BY_NAME[tool].run(deps, dict(args)), deps


def rule_of(result: ToolResult) -> str:
    return result.data["verdict"]["rule"]


# the bundle itself


def test_the_bundle_loads_with_its_policy_rules() -> None:
    bundle = load_bundle(BUNDLE)
    assert bundle.shop.id == SHOP and bundle.shop.timezone == "Asia/Shanghai"
    assert (len(bundle.products), len(bundle.shoppers), len(bundle.orders)) == (12, 4, 17)
    assert bundle.policy is not None and len(bundle.policy["rules"]) == 15
    feeder = next(p for p in bundle.products if p.id == "M06")
    pink = next(s for s in feeder.skus if s.id == "M06-PNK")
    assert pink.status == "sold_out" and str(pink.restock_date) == "2026-12-20"


def test_the_cli_imports_the_bundle(tmp_path: Path) -> None:
    env = {
        "XIAOER_HOME": str(tmp_path / "home"),
        "XIAOER_NOW": "2026-12-03T15:00:00+08:00",
        "XIAOER_EMBEDDINGS": "0",
    }
    result = CliRunner().invoke(app, ["shop", "import", str(BUNDLE)], env=env)
    assert result.exit_code == 0, result.output
    assert "maoqiu" in result.output and "orders 17" in result.output
    assert "policy_version 1" in result.output


# 规则 1：7 天无理由，按自然日，签收次日为第 1 天


async def test_rule_01_seven_days_are_calendar_days(shop: Runtime) -> None:
    # MQ1001 delivered 11-26 09:30: 12-03 is calendar day 7, though 7 days 5.5 hours have passed
    said = "MQ1001 逗猫棒不想要了，退货"
    ok, _ = await call(shop, "U01", "request_return", said, order_id="MQ1001")
    assert ok.proposal is not None and ok.proposal.tool == "request_return"
    assert ok.proposal.amount_fen == 1990
    assert "compensation_fen" not in ok.proposal.change.detail  # no quality problem, no 运费补偿
    policy = await shop.policy(SHOP)
    elapsed = policy.model_copy(update={"windows": Windows(days="elapsed")})
    late, _ = await call(shop, "U01", "request_return", said, policy=elapsed, order_id="MQ1001")
    assert late.proposal is None and "已超过7天无理由退货期限" in (late.reply or "")
    # MQ1002 delivered 11-25 20:00: day 8
    no, _ = await call(shop, "U01", "request_return", "MQ1002 猫窝不要了，退货", order_id="MQ1002")
    assert no.reply == "抱歉，订单 MQ1002 签收已8天，已超过7天无理由退货期限。"


# 规则 2：主粮、零食、猫砂拆封不退；处方粮售出不退；质量问题除外


async def test_rule_02_opened_food_and_prescription_food_are_not_returned(shop: Runtime) -> None:
    opened, _ = await call(
        shop, "U01", "request_return", "MQ1003 猫粮拆封了，不想要了，退货", order_id="MQ1003"
    )
    assert opened.proposal is None and rule_of(opened) == "returns.exclusions"
    assert opened.reply == (
        "抱歉，订单 MQ1003 主粮、零食、猫砂属于食品和消耗品，拆封后不支持7天无理由退货（质量问题除外）。"
    )
    sealed, _ = await call(
        shop, "U01", "request_return", "MQ1003 猫粮还没拆封，不想要了，退货", order_id="MQ1003"
    )
    assert sealed.proposal is not None and sealed.proposal.amount_fen == 15900
    prescribed, _ = await call(
        shop, "U02", "request_return", "MQ1004 处方粮没拆封，用不上了，退货", order_id="MQ1004"
    )
    assert prescribed.proposal is None and rule_of(prescribed) == "returns.exclusions"
    assert "处方粮属于特殊食品，售出后不支持7天无理由退货" in (prescribed.reply or "")
    moldy, _ = await call(
        shop, "U01", "request_return", "MQ1003 猫粮拆开发现发霉了，退货", order_id="MQ1003"
    )
    assert moldy.proposal is not None  # a quality problem stays covered


# 规则 3：主粮不爱吃包退——由人工核对（首次购买、每账号一次、剩余 2/3），先拍照


async def test_rule_03_food_the_pet_will_not_eat_goes_to_a_human(shop: Runtime) -> None:
    said = "MQ1003 猫粮开袋喂了两天，猫不爱吃，想退"
    result, deps = await call(shop, "U01", "request_return", said, order_id="MQ1003")
    reason = "主粮不爱吃包退，需核对首次购买、每账号一次、剩余至少2/3"
    assert result.proposal is None and result.data["handoff"] == reason
    assert deps.handoffs == [reason]
    assert result.reply == (
        f"订单 MQ1003 的退货需要由人工客服处理：{reason}。"
        "请把剩下的粮拍张照片（能看出还剩多少）发给人工客服。"
    )
    # moldy food the cat will not eat is a quality return, not the guarantee
    moldy, deps = await call(
        shop, "U01", "request_return", "MQ1003 猫粮发霉了，猫不吃，退货", order_id="MQ1003"
    )
    assert moldy.proposal is not None and not deps.handoffs
    # after the 7 days the guarantee is over: the window decides (MQ1013 delivered 09-20)
    old, deps = await call(
        shop, "U03", "request_return", "MQ1013 狗粮狗不爱吃，退货", order_id="MQ1013"
    )
    assert old.proposal is None and not deps.handoffs
    assert old.reply == "抱歉，订单 MQ1013 签收已74天，已超过7天无理由退货期限。"


# 规则 4：大件无理由退货上门取件，取件费 30 元买家承担


async def test_rule_04_large_item_returns_are_picked_up_for_a_30_yuan_fee(shop: Runtime) -> None:
    said = "MQ1015 猫爬架太占地方了，不想要了，退货"
    result, _ = await call(shop, "U03", "request_return", said, order_id="MQ1015")
    p = result.proposal
    assert p is not None and p.amount_fen == 59900
    assert "猫爬架由物流上门取件，取件费¥30由买家承担" in p.summary
    # without the fee in the policy, the usual note: the shopper sends it back at their cost
    policy = await shop.policy(SHOP)
    no_fee = policy.model_copy(
        update={"returns": policy.returns.model_copy(update={"pickup_fee": {}})}
    )
    plain, _ = await call(shop, "U03", "request_return", said, policy=no_fee, order_id="MQ1015")
    assert plain.proposal is not None and "取件费" not in plain.proposal.summary
    assert "无理由退货的寄回运费由买家承担" in plain.proposal.summary


# 规则 5：只为质量问题换货；衣服、胸背带 7 天内可换一次尺码


async def test_rule_05_exchanges_only_for_quality_except_sizes_within_7_days(
    shop: Runtime,
) -> None:
    litter, _ = await call(
        shop, "U03", "request_exchange", "MQ1007 想把猫砂换成绿茶味", order_id="MQ1007", to="绿茶"
    )
    assert litter.proposal is None and rule_of(litter) == "exchange.days"
    assert litter.reply == (
        "抱歉，订单 MQ1007 本店只为质量问题换货，不支持无理由换货；不合适的话可以按政策申请退货。"
    )
    harness, _ = await call(
        shop, "U03", "request_exchange", "MQ1005 胸背带小了，换L码", order_id="MQ1005", to="L"
    )
    p = harness.proposal
    assert p is not None and p.change.detail["from"] == "M08-M" and p.change.detail["to"] == "M08-L"
    assert p.verdict.rule == "rules.9"
    late, _ = await call(
        shop, "U03", "request_exchange", "MQ1006 卫衣小了，换M码", order_id="MQ1006", to="M"
    )
    assert late.proposal is None and rule_of(late) == "rules.10"
    assert late.reply == (
        "抱歉，订单 MQ1006 宠物衣服、胸背带换尺码需在签收后7天内申请，已经超过7天。"
    )


# 规则 6：质量问题 15 天内可退可换，寄回运费补偿 12 元


async def test_rule_06_quality_problems_within_15_days_get_12_yuan_for_shipping(
    shop: Runtime,
) -> None:
    back, _ = await call(
        shop, "U01", "request_return", "MQ1003 猫粮发霉了，质量问题，退货", order_id="MQ1003"
    )
    p = back.proposal
    assert p is not None and p.amount_fen == 15900  # the refund stays the goods' price
    assert p.change.detail["compensation_fen"] == 1200
    assert p.change.order_extras["after_sale"]["compensation_fen"] == 1200
    assert "另补偿：质量问题寄回运费补偿¥12。" in p.summary
    # a quality exchange on day 13 (MQ1006 delivered 11-20): a new one, with the same ¥12
    new, _ = await call(
        shop, "U03", "request_exchange", "MQ1006 卫衣开线了，换件新的", order_id="MQ1006"
    )
    assert new.proposal is not None and "检测确认后换同型号新品" in new.proposal.summary
    assert new.proposal.change.detail["compensation_fen"] == 1200
    # past 15 days: refused (MQ1013 delivered 09-20)
    old, _ = await call(shop, "U03", "request_return", "MQ1013 狗粮发霉了，退货", order_id="MQ1013")
    assert old.proposal is None and rule_of(old) == "returns.quality_days"
    assert "超过15天质量问题退货期限" in (old.reply or "")


# 规则 7：智能用品报质量问题，先拍视频


async def test_rule_07_a_smart_device_fault_asks_for_a_video_first(shop: Runtime) -> None:
    said = "MQ1008 喂食器不出粮了，质量问题，退货"
    asked, _ = await call(shop, "U04", "request_return", said, order_id="MQ1008")
    assert asked.proposal is None and asked.data["asks"] == "details"
    assert asked.reply == "麻烦拍一段能看清故障的视频发给我，收到后马上为您处理。"
    done, _ = await call(shop, "U04", "request_return", said, "视频已上传", order_id="MQ1008")
    assert done.proposal is not None and done.proposal.amount_fen == 29900
    assert done.proposal.change.detail["compensation_fen"] == 1200
    # a fault in food is not asked for a video
    food, _ = await call(
        shop, "U04", "request_refund", "MQ1009 冻干包装破了，退款", order_id="MQ1009"
    )
    assert food.proposal is not None and "asks" not in food.data


# 规则 8：吃了不舒服，人工客服和宠物医生跟进


async def test_rule_08_a_pet_unwell_after_eating_goes_to_a_human(shop: Runtime) -> None:
    said = "MQ1009 猫吃了冻干之后一直呕吐，我要退款"
    result, deps = await call(shop, "U04", "request_refund", said, order_id="MQ1009")
    reason = "宠物食用后出现不适，由人工客服和宠物医生跟进"
    assert result.proposal is None and result.data["handoff"] == reason
    assert deps.handoffs == [reason]
    assert result.reply == f"订单 MQ1009 的退款需要由人工客服处理：{reason}。"
    # the same words about a toy are no food complaint
    toy, deps = await call(
        shop, "U01", "request_return", "MQ1001 逗猫棒猫玩了会吐毛，退货", order_id="MQ1001"
    )
    assert toy.proposal is not None and not deps.handoffs


# 规则 9：丢件补发或全额退款


async def test_rule_09_a_lost_parcel_is_reshipped_or_refunded(shop: Runtime) -> None:
    where, _ = await call(shop, "U01", "track_logistics", "MQ1010 到哪了", order_id="MQ1010")
    assert where.data["asks"] == "details" and "快件遗失" in where.text
    assert where.reply == (
        "很抱歉，快递显示包裹丢失了。可以为您重新补发，也可以全额退款，请问您选哪一种？"
    )
    refund, _ = await call(shop, "U01", "request_refund", "MQ1010 那就退款吧", order_id="MQ1010")
    assert refund.proposal is not None and refund.proposal.amount_fen == 12900
    assert refund.proposal.verdict.rule == "rules.7"
    reship, deps = await call(
        shop, "U01", "request_exchange", "MQ1010 给我补发一个", order_id="MQ1010"
    )
    assert reship.data["handoff"] == "快递丢件，顾客要重新补发" and deps.handoffs
    # once the shopper has chosen, the question is not asked again
    chosen, _ = await call(
        shop, "U01", "track_logistics", "MQ1010 到哪了", "我选补发", order_id="MQ1010"
    )
    assert "asks" not in chosen.data


# 规则 10：一单 10 件及以上、或实付 1500 元以上的售后找人工


async def test_rule_10_bulk_and_large_orders_go_to_a_human(shop: Runtime) -> None:
    bulk, deps = await call(
        shop, "U02", "cancel_order", "MQ1011 取消订单", order_id="MQ1011", reason="不要了"
    )
    assert bulk.proposal is None and deps.handoffs
    assert bulk.data["handoff"] == "一单10件及以上的批量订单，售后由人工客服处理"
    assert (bulk.reply or "").startswith("订单 MQ1011 的取消需要由人工客服处理")
    big, deps = await call(
        shop, "U02", "request_return", "MQ1012 猫爬架不想要了，退货", order_id="MQ1012"
    )
    assert (
        big.proposal is None and big.data["handoff"] == "实付1500元以上的订单，售后由人工客服处理"
    )
    # one bag of food for ¥394 is no bulk order
    small, deps = await call(
        shop, "U04", "cancel_order", "MQ1014 取消订单", order_id="MQ1014", reason="不要了"
    )
    assert small.proposal is not None and not deps.handoffs


# 规则 11：只开电子普通发票，签收 60 天内


async def test_rule_11_ordinary_invoices_within_60_days(shop: Runtime) -> None:
    ok, _ = await call(shop, "U03", "request_invoice", "MQ1005 开个发票", order_id="MQ1005")
    assert ok.proposal is not None and "电子普通发票" in ok.proposal.summary
    vat, _ = await call(
        shop, "U03", "request_invoice", "MQ1005 开专票", order_id="MQ1005", type="专票"
    )
    assert vat.proposal is None and vat.reply == "抱歉，订单 MQ1005 本店可开：电子普通发票。"
    old, _ = await call(shop, "U03", "request_invoice", "MQ1013 开发票", order_id="MQ1013")
    assert old.proposal is None and rule_of(old) == "rules.11"
    assert old.reply == "抱歉，订单 MQ1013 签收超过60天的订单不再补开发票。"


# 规则 12：嫌贵、后悔的退货先给券（99 元及以上 20 元，以下 10 元）；取消、未发货退款不挽留


async def test_rule_12_a_coupon_before_a_price_return_none_before_a_cancel(
    shop: Runtime,
) -> None:
    price = Understanding(want="return", acts=True, reason="买贵了", reason_kind="price")
    cheap, _ = await call(
        shop, "U01", "request_return", "MQ1001 逗猫棒买贵了，退货",
        readings=(price,), order_id="MQ1001",
    )  # fmt: skip
    assert cheap.proposal is not None and cheap.proposal.tool == "offer_retention"
    assert cheap.proposal.amount_fen == 1000  # ¥19.90 returned: the ¥10 coupon
    # read as changed mind, in words the built-in when_reason list does not have
    changed = Understanding(want="return", acts=True, reason="用不上了", reason_kind="changed_mind")
    dear, _ = await call(
        shop, "U04", "request_return", "MQ1008 喂食器用不上了，退货",
        readings=(changed,), order_id="MQ1008",
    )  # fmt: skip
    assert dear.proposal is not None and dear.proposal.tool == "offer_retention"
    assert dear.proposal.amount_fen == 2000  # ¥299 returned: the ¥20 coupon
    # a cancel and an unshipped order's refund: straight through, 贵 or not
    cancel, _ = await call(
        shop, "U04", "cancel_order", "MQ1014 太贵了，取消订单", order_id="MQ1014", reason="太贵了"
    )
    assert cancel.proposal is not None and cancel.proposal.tool == "cancel_order"
    refund, _ = await call(
        shop, "U04", "request_refund", "MQ1014 太贵了，退款", order_id="MQ1014", reason="太贵了"
    )
    assert refund.proposal is not None and refund.proposal.tool == "request_refund"
    assert refund.proposal.amount_fen == 39400
