from __future__ import annotations

from datetime import timedelta

from conftest import NOW
from xiaoer.domain.models import Shop
from xiaoer.runtime import Runtime
from xiaoer.tools.deps import TurnDeps
from xiaoer.tools.registry import BY_NAME

# the tools as the model calls them: arguments validated, then run
get_order = BY_NAME["get_order"].run
get_product = BY_NAME["get_product"].run
list_my_orders = BY_NAME["list_my_orders"].run
search_products = BY_NAME["search_products"].run
track_logistics = BY_NAME["track_logistics"].run


async def _deps(rt: Runtime, said: str = "", shopper_id: str = "U1", days: int = 0) -> TurnDeps:
    commerce = rt.commerce("mini")
    shopper = await commerce.get_shopper(shopper_id)
    assert shopper is not None
    shop = Shop("mini", "迷你运动店")
    return TurnDeps(shop, shopper, commerce, NOW + timedelta(days=days), said=[said])


async def test_search_filters_size_price_and_stock(runtime: Runtime) -> None:
    deps = await _deps(runtime, "有没有 42 码的跑鞋，300 元以内")
    result = await search_products(deps, {"keyword": "跑鞋", "size": "42码", "max_price": 300.0})
    assert result.data["product_ids"] == ["P1"]  # P2 is ¥899; P1's 43 is out of stock
    assert "疾风 3 男子缓震跑鞋（编号P1）¥299" in result.text
    assert "尺码 42" in result.text and "≤¥300" in result.text
    none = await search_products(deps, {"keyword": "休闲鞋", "size": "42"})
    assert none.data["product_ids"] == [] and "没有找到" in none.text
    cheap = await search_products(deps, {"keyword": "有没有跑鞋", "max_price": "1000"})
    assert cheap.data["product_ids"] == ["P1", "P2"]


async def test_search_drops_filters_the_shopper_never_gave(runtime: Runtime) -> None:
    deps = await _deps(runtime, "这双跑鞋偏大还是偏小")
    invented = {"keyword": "跑鞋", "size": "L", "color": "黑", "max_price": 100, "min_price": 50}
    result = await search_products(deps, invented)
    assert result.data["product_ids"] == ["P1", "P2"]
    assert "≤" not in result.text and "L码" not in result.text


async def test_get_product_by_id_or_name(runtime: Runtime) -> None:
    deps = await _deps(runtime)
    by_id = await get_product(deps, {"product_id": "p2"})
    by_name = await get_product(deps, {"product_id": "云跃 Pro"})
    assert by_id.data == by_name.data == {"product_id": "P2"}
    assert "白/42 ¥899 库存3" in by_id.text
    missing = await get_product(deps, {"product_id": "不存在的东西"})
    assert not missing.ok


async def test_the_options_the_shopper_named_come_first_with_their_stock(
    runtime: Runtime,
) -> None:
    deps = await _deps(runtime, "疾风 3 男子缓震跑鞋黑色 43 码还有货吗")
    result = await get_product(deps, {"product_id": "P1"})
    head = result.text.split("规格（价格/库存）")[0]
    assert "顾客问的规格：\n- 黑/43 ¥299 缺货" in head  # "黑色" names the value 黑
    assert "同款有货的其他规格：黑/42" in head
    plain = await get_product(await _deps(runtime, "这双鞋面是什么材质"), {"product_id": "P1"})
    assert "顾客问的规格" not in plain.text  # no option named: the record as it is


async def test_order_reads_are_owned(runtime: Runtime) -> None:
    mine = await _deps(runtime, "SO1001 呢", "U1")
    theirs = await _deps(runtime, "SO1001 SO9999", "U2")
    assert (await get_order(mine, {"order_id": " so1001 "})).ok
    foreign = await get_order(theirs, {"order_id": "SO1001"})
    unknown = await get_order(theirs, {"order_id": "SO9999"})
    assert not foreign.ok and not unknown.ok
    assert foreign.text.replace("SO1001", "X") == unknown.text.replace("SO9999", "X")
    assert not (await track_logistics(theirs, {"order_id": "SO1001"})).ok
    assert (await get_order(mine, {})).data["order_id"] == "SO1001"  # the one the message names
    unnamed = await _deps(runtime, "我的订单呢", "U1")
    assert "顾客没有说订单号" in (await get_order(unnamed, {})).text
    invented = await get_order(mine, {"order_id": "SO1002"})  # real, theirs, but never mentioned
    assert "顾客没有提供过订单号 SO1002" in invented.text and "订单号：" not in invented.text
    mine.seen.append("顾客最近的订单：SO1002 待发货")  # …until a tool result shows it
    assert (await get_order(mine, {"order_id": "SO1002"})).ok


async def test_track_logistics_reports_latest_and_staleness(runtime: Runtime) -> None:
    deps = await _deps(runtime, "SO1001 和 SO1002 到哪了")
    fresh = await track_logistics(deps, {"order_id": "SO1001"})
    assert "最新：2026-11-12 08:00 运输中 快件已到达【杭州转运中心】" in fresh.text
    assert "物流已 8 天没有更新" in fresh.text
    pending = await track_logistics(deps, {"order_id": "SO1002"})
    assert pending.ok and "还没有发货" in pending.text


async def test_list_my_orders(runtime: Runtime) -> None:
    result = await list_my_orders(await _deps(runtime), {})
    assert result.data["order_ids"] == ["SO1002", "SO1001"]
    only = await list_my_orders(await _deps(runtime, "已发货的订单"), {"status": "已发货"})
    assert only.data["order_ids"] == ["SO1001"]
    unasked = await list_my_orders(await _deps(runtime, "我买了什么"), {"status": "已完成"})
    assert unasked.data["order_ids"] == ["SO1002", "SO1001"]
