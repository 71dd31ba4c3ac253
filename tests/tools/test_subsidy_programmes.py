"""check_subsidy with a shop's own subsidy programme, end to end on the mini shop: the bundle
(products with an energy grade, an earlier order that used the programme) and its policy.yaml
are imported, then the tool runs as the model calls it, and through a whole turn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from conftest import NOW
from minishop import ADDR, ORDERS, PRODUCTS, write_bundle
from xiaoer.config import Settings
from xiaoer.domain.models import Shop
from xiaoer.llm.scripted import ScriptedLLM, call
from xiaoer.runtime import Runtime
from xiaoer.tools.base import ToolResult
from xiaoer.tools.deps import TurnDeps
from xiaoer.tools.registry import BY_NAME

check_subsidy = BY_NAME["check_subsidy"].run

# The shop's programme, as its rule sheet says: 20 % for 一级 and 15 % for 二级 energy grade,
# 三级 excluded, at most ¥2,000, one per person per category, only in some provinces, an
# invoice needed, no coupons on top. The national table applies too; the better one wins.
POLICY = """\
subsidy:
  enabled: true
  choose: best
  programmes:
    - id: energy
      name: 店铺节能焕新补贴
      start: 2026-03-01
      end: 2026-12-31
      regions: [浙江省, 江苏省]
      categories: [空调, 冰箱]
      tier_by: 能效等级
      tiers:
        - {value: 一级, percent: 20}
        - {value: 二级, percent: 15}
      caps: {item: 2000}
      limits:
        - {count: 1, per: person, by: category}
      needs_invoice: true
      stacks_with_coupons: false
"""


def _product(pid: str, category: str, grade: str, price: int) -> dict[str, Any]:
    sku = {"id": f"{pid}-1", "options": {"款式": "标准"}, "price_fen": price, "stock": 5}
    return {"id": pid, "title": f"{grade}能效{category} {pid}", "category": category,
            "attributes": {"能效等级": grade}, "skus": [sku]}  # fmt: skip


APPLIANCES = [
    _product("P30", "空调", "一级", 299900),
    _product("P31", "空调", "二级", 399900),
    _product("P32", "空调", "三级", 259900),
    _product("P33", "冰箱", "一级", 1299900),
]
# 李雷 (U2) already had the programme on an air conditioner this year.
USED = {
    "id": "SO2002",
    "shopper_id": "U2",
    "status": "已完成",
    "created_at": "2026-10-01T10:00:00+08:00",
    "paid_at": "2026-10-01T10:01:00+08:00",
    "shipped_at": "2026-10-02T09:00:00+08:00",
    "delivered_at": "2026-10-04T09:00:00+08:00",
    "shipment": {"carrier": "顺丰速运", "tracking_no": "SF2002", "events": []},
    "lines": [{"sku_id": "P30-1", "product_id": "P30", "title": "一级能效空调 P30",
               "options": {}, "unit_price_fen": 299900, "quantity": 1}],
    "total_fen": 299900,
    "pay_fen": 239920,
    "discount_fen": 59980,
    "address": ADDR | {"name": "李雷"},
    "extras": {"energy": {"category": "空调", "discount_fen": 59980}},
}  # fmt: skip


async def _open(settings: Settings, llm: ScriptedLLM, folder: Path, policy: str) -> Runtime:
    rt = await Runtime.open(settings, llm=llm)
    bundle = write_bundle(
        folder, policy=policy, products=PRODUCTS + APPLIANCES, orders=[*ORDERS, USED]
    )
    await rt.import_shop(bundle, knowledge=False)
    return rt


@pytest.fixture
async def shop(settings: Settings, llm: ScriptedLLM, tmp_path: Path) -> AsyncIterator[Runtime]:
    rt = await _open(settings, llm, tmp_path / "b", POLICY)
    yield rt
    await rt.close()


async def ask(rt: Runtime, shopper_id: str, said: str, **args: str) -> ToolResult:
    commerce = rt.commerce("mini")
    shopper = await commerce.get_shopper(shopper_id)
    assert shopper is not None
    deps = TurnDeps(Shop("mini", "迷你运动店"), shopper, commerce, NOW, said=[said],
                    policy=await rt.policy("mini"))  # fmt: skip
    return await check_subsidy(deps, args)


async def test_grade_one_gets_the_shops_20_percent_over_the_national_15(shop: Runtime) -> None:
    result = await ask(shop, "U1", "这台空调能补贴多少", product="P30")
    assert result.ok and result.reply == result.text  # the shopper reads what code wrote
    assert (
        "可以享受店铺节能焕新补贴：按成交价¥2999补贴20%（能效等级一级），约¥599.80，" in result.text
    )
    assert "到手约¥2399.20" in result.text
    assert "每件最高¥2000；每人每类限1件（活动期内）；需开具发票；不与优惠券同享" in result.text
    assert "依据：本店活动「店铺节能焕新补贴」（2026-03-01至2026-12-31）" in result.text
    assert "同时符合2026 年全国以旧换新（约¥449.85）、店铺节能焕新补贴（约¥599.80）" in result.text
    assert (
        "取补贴最多的一项：店铺节能焕新补贴。可以享受店铺节能焕新补贴" in result.text
    )  # why, then what
    assert result.data["subsidies"] == [
        {"price_fen": 299900, "programme": "energy", "amount_fen": 59980}
    ]


async def test_grade_two_gets_15_percent_where_the_national_table_pays_nothing(
    shop: Runtime,
) -> None:
    result = await ask(shop, "U1", "二级能效的能补吗", product="P31")
    assert (
        "可以享受店铺节能焕新补贴：按成交价¥3999补贴15%（能效等级二级），约¥599.85" in result.text
    )
    assert "（2026 年全国以旧换新不适用：二级能效，需要一级能效）" in result.text
    assert "同时符合" not in result.text


async def test_grade_three_is_excluded(shop: Runtime) -> None:
    result = await ask(shop, "U1", "三级的呢", product="P32")
    assert "不能享受店铺节能焕新补贴：能效等级为三级，活动只补贴能效等级为一级、二级的商品。" in (
        result.reply or ""
    )
    assert "不能申请国补" in result.text and result.data["subsidies"][0]["programme"] == ""


async def test_the_item_cap(shop: Runtime) -> None:
    result = await ask(shop, "U1", "这个冰箱呢", product="P33")
    assert "按成交价¥12999补贴20%（能效等级一级），约¥2000，到手约¥10999" in result.text


async def test_one_per_person_per_category_counts_the_shoppers_orders(shop: Runtime) -> None:
    again = await ask(shop, "U2", "空调还能补吗", product="P30")
    assert (
        "店铺节能焕新补贴不适用：每人每类限1件（活动期内），您2026-10-01的订单SO2002已经享受过"
        in (again.text)
    )
    # the national table still applies to them, and is the one named
    assert "可以申请国补：按成交价¥2999补贴15%，约¥449.85" in again.text
    assert again.data["subsidies"][0]["programme"] == "national"
    other = await ask(shop, "U2", "冰箱呢", product="P33")  # another category
    assert other.data["subsidies"][0]["programme"] == "energy"


async def test_only_in_the_programmes_provinces(shop: Runtime) -> None:
    result = await ask(shop, "U1", "我在上海，能补吗", product="P30", province="上海市")
    assert (
        "店铺节能焕新补贴不适用：仅限收货地址在浙江省、江苏省，上海市不在活动范围内" in result.text
    )
    assert result.data["subsidies"][0]["programme"] == "national"


async def test_the_national_table_first_when_the_policy_says_so(
    settings: Settings, llm: ScriptedLLM, tmp_path: Path
) -> None:
    rt = await _open(settings, llm, tmp_path / "n", POLICY.replace("best", "national"))
    try:
        result = await ask(rt, "U1", "这台空调能补贴多少", product="P30")
    finally:
        await rt.close()
    assert result.text.count("可以") == 1 and "可以申请国补：按成交价¥2999补贴15%" in result.text
    assert "按本店规则优先使用2026 年全国以旧换新" in result.text


async def test_a_shop_without_the_national_table_never_cites_it(
    settings: Settings, llm: ScriptedLLM, tmp_path: Path
) -> None:
    policy = POLICY.replace("  choose: best\n", "  national: false\n")
    rt = await _open(settings, llm, tmp_path / "s", policy)
    try:
        yes = await ask(rt, "U1", "能补贴多少", product="P30")
        no = await ask(rt, "U1", "三级的呢", product="P32")
    finally:
        await rt.close()
    assert "店铺节能焕新补贴" in yes.text and "全国以旧换新" not in yes.text
    assert no.reply == (
        "三级能效空调 P32（收货地区浙江省）：\n"
        "不能享受店铺节能焕新补贴：能效等级为三级，活动只补贴能效等级为一级、二级的商品。"
    )


async def test_without_programmes_the_national_answer_is_unchanged(
    settings: Settings, llm: ScriptedLLM, tmp_path: Path
) -> None:
    rt = await _open(settings, llm, tmp_path / "o", "subsidy: {enabled: true}\n")
    try:
        result = await ask(rt, "U1", "这台空调能补贴多少", product="P30")
    finally:
        await rt.close()
    assert result.reply is None  # the model writes the answer, as before
    assert result.text == (
        "一级能效空调 P30（空调，一级），按收货地区 浙江省：\n"
        "可以申请国补：按成交价¥2999补贴15%，约¥449.85，到手约¥2549.15。"
        "每件最高¥1500，每人每类限1件。依据：2026 年全国以旧换新（政策发布日期 2025-12-31），"
        "具体以当地政策为准。"
    )


async def test_the_reply_the_shopper_reads_names_the_programme(
    shop: Runtime, llm: ScriptedLLM
) -> None:
    llm.steps = [call("check_subsidy", product="P30")]
    turn = await shop.assistant().turn("mini", "U1", "P30 这台空调能用补贴吗，补多少")
    assert [c.name for c in turn.tool_calls] == ["check_subsidy"]
    assert "可以享受店铺节能焕新补贴" in turn.reply and "约¥599.80" in turn.reply
    assert "依据：本店活动「店铺节能焕新补贴」" in turn.reply
