"""山野鲜果旗舰店: shop profile and order rules (origins, cold chain, pre-sale, 坏果包赔).

The held-out shop: generated like the others, but its scenarios are only measured, never tuned
on (docs/scenarios.md).
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from xiaoer.demo.catalog_orchard import COLD, FRESH, ORIGINS
from xiaoer.demo.common import pick
from xiaoer.demo.geo import REMOTE_PROVINCES
from xiaoer.demo.logistics import Origin
from xiaoer.demo.orders import AfterSalePlan, Rules, after_sale_record, pick_coupon
from xiaoer.demo.timeline import Timeline

SHOP: dict[str, Any] = {
    "id": "orchard",
    "name": "山野鲜果旗舰店",
    "persona": (
        "你是「山野鲜果旗舰店」的智能客服小果。说话热情、实在，称呼顾客为「亲」；"
        "回答给出具体信息（规格重量、发货时间、储存方法、坏果怎么赔）；不确定的事不乱承诺，"
        "遇到坏果、延迟发货或投诉先安抚，再按店铺规则处理，必要时转人工客服。"
    ),
    "timezone": "Asia/Shanghai",
    "working_hours": "08:30-23:00",
    "description": (
        "山野鲜果官方旗舰店：应季水果产地直发，进口水果、礼盒和冷链商品由上海冷链仓发出，"
        "另有坚果果干等常温零食。全国包邮（新疆、西藏加收运费），坏果包赔（签收后24小时内"
        "拍照反馈），生鲜水果不支持7天无理由退货。"
    ),
}

AGENTS = ["客服果果", "客服阿橙", "客服小桃", "客服莓莓", "客服大柚"]
COUPONS = [
    (29900, 4000, "店铺券满299减40"),
    (19900, 2500, "店铺券满199减25"),
    (9900, 1000, "店铺券满99减10"),
]
REMOTE_SHIPPING_FEE_FEN = 2000

_REMARKS = [
    ("送人的，不要放价格单", 4),
    ("麻烦挑大一点的", 4),
    ("家里白天没人，放快递柜", 3),
    ("周末在家，尽量周末送到", 2),
    ("老人吃，挑软一点的", 1),
    ("请包装结实一点，上次有压坏", 2),
]
_CARD_TEXT = [
    "贺卡：祝爸妈身体健康，万事如意！",
    "贺卡：新年快乐，阖家幸福 —— 小李",
    "贺卡：感谢王老师一年的照顾",
    "贺卡：生日快乐，永远十八岁",
]
_DAMAGE = [
    ("坏果：到货有2个烂果", 30),
    ("坏果：箱子压坏，有3个磕破流汁", 22),
    ("坏果：有1个发霉", 18),
    ("坏果：冻伤，果肉发黑", 8),
    ("漏发：少了一盒", 8),
    ("重量不足：称了不够斤数", 6),
    ("发错规格：买的大果发成中果", 8),
]


def presale(product: dict[str, Any]) -> bool:
    """预售: ships from the date on the product page, so never shipped before the anchor."""
    return "预售" in product.get("tags", [])


class OrchardRules(Rules):
    """Order rules that follow orchard's policy.md."""

    origin = ORIGINS["上海"]
    payments = [("支付宝", 46), ("微信支付", 40), ("花呗", 10), ("信用卡", 4)]

    def _product(self, line: dict[str, Any]) -> dict[str, Any]:
        return self.catalog.by_id[line["product_id"]]

    def lines_for(self, rng: random.Random, status: str) -> list[dict[str, Any]]:
        lines = self.pick_lines(rng)
        if status in ("待付款", "待发货", "已取消"):
            return lines
        while any(presale(self._product(line)) for line in lines):
            lines = self.pick_lines(rng)
        return lines

    def quantity(self, rng: random.Random, product: dict[str, Any]) -> int:
        if product["category"] == "礼盒":
            return pick(rng, [(1, 70), (2, 20), (rng.randint(3, 8), 10)])
        return pick(rng, [(1, 88), (2, 12)])

    def origin_for(self, lines: list[dict[str, Any]]) -> Origin:
        place = self._product(lines[0])["attributes"].get("发货地", "上海")
        return ORIGINS.get(place, self.origin)

    def money(
        self,
        rng: random.Random,
        lines: list[dict[str, Any]],
        shopper: dict[str, Any],
        addr: dict[str, str],
        total: int,
    ) -> tuple[int, int, dict[str, Any]]:
        extras: dict[str, Any] = {}
        discount, name = pick_coupon(rng, COUPONS, total, 0.4)
        if name:
            extras["coupon"] = name
        fee = REMOTE_SHIPPING_FEE_FEN if addr["province"] in REMOTE_PROVINCES else 0
        return discount, fee, extras

    def carrier(
        self, rng: random.Random, lines: list[dict[str, Any]], shopper: dict[str, Any], total: int
    ) -> str:
        how = self._product(lines[0])["attributes"].get("配送", "")
        return "中通快递" if how.startswith("中通") else "顺丰速运"

    def remark(self, rng: random.Random, lines: list[dict[str, Any]]) -> str:
        if any(line["options"].get("包装") == "加贺卡礼盒" for line in lines):
            return rng.choice(_CARD_TEXT)
        if self._product(lines[0])["category"] not in FRESH:
            return ""
        return pick(rng, [("", 78), (pick(rng, _REMARKS), 22)])

    def after_sale_plan(self, rng: random.Random, lines: list[dict[str, Any]]) -> AfterSalePlan:
        category = self._product(lines[0])["category"]
        if rng.random() < 0.15:
            return AfterSalePlan("仅退款", "未发货，不想要了", shipped=False)
        if category in FRESH or category in COLD:
            return AfterSalePlan("仅退款", pick(rng, _DAMAGE), window=timedelta(hours=24))
        reason = pick(
            rng, [("未拆封，不想要了", 60), ("包装破损漏气", 25), ("口味不喜欢，未拆封", 15)]
        )
        return AfterSalePlan("退货退款", reason)

    def decorate(
        self, rng: random.Random, order: dict[str, Any], tl: Timeline, plan: AfterSalePlan | None
    ) -> None:
        products = [self._product(line) for line in order["lines"]]
        dates = [p["attributes"]["发货时间"] for p in products if presale(p)]
        if dates:
            order["extras"]["预售"] = dates[0]
        if any(p["category"] in COLD or "冷链" in p.get("tags", []) for p in products):
            order["extras"]["冷链"] = True
        if plan is None:
            return
        record = after_sale_record(rng, order, tl, plan)
        if plan.reason.startswith("坏果"):
            record["evidence"] = pick(rng, [("已上传照片3张", 70), ("未上传照片", 30)])
        order["extras"]["after_sale"] = record

    def demo_orders(self) -> list[tuple[str, dict[str, Any], list[tuple[str, int]]]]:
        damaged = AfterSalePlan("仅退款", "坏果：到货有2个烂果", window=timedelta(hours=24))
        return [
            ("待付款", {}, [("P0023-30-O", 1)]),
            ("待发货", {}, [("P0006-5J-80", 1), ("P0009-12-S", 1)]),
            ("待发货", {}, [("P0015-15J-M", 1)]),
            ("已发货", {"min_events": 4}, [("P0001-5J-L", 1)]),
            ("已发货", {"delayed": True, "min_events": 3}, [("P0011-2-M", 1)]),
            ("已签收", {}, [("P0013-4-L", 1)]),
            ("已签收", {}, [("P0014-5J-M", 1)]),
            ("已完成", {}, [("P0021-8J-CARD", 1)]),
            ("已完成", {}, [("P0025-500-MILK", 1), ("P0024-1J-5", 1)]),
            ("售后中", {"plan": damaged}, [("P0001-10J-M", 1)]),
            ("已取消", {}, [("P0028-4B", 1)]),
        ]


DEMO_SHOPPER: dict[str, Any] = {
    "id": "U00001",
    "name": "陈晓雨",
    "phone": "13621987754",
    "level": "金卡会员",
    "addresses": [
        {
            "name": "陈晓雨",
            "phone": "13621987754",
            "province": "上海市",
            "city": "上海市",
            "district": "徐汇区",
            "detail": "漕溪北路 88 号圣爱大厦 1508 室",
        },
        {
            "name": "陈晓雨",
            "phone": "13621987754",
            "province": "上海市",
            "city": "上海市",
            "district": "浦东新区",
            "detail": "张杨路 1200 号金桥小区 6 号楼 302",
        },
        {
            "name": "陈国强",
            "phone": "13955128840",
            "province": "安徽省",
            "city": "合肥市",
            "district": "蜀山区",
            "detail": "长江西路 456 号翡翠花园 3 栋 701",
        },
    ],
}
