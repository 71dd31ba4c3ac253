"""步履不停运动旗舰店: shop profile and order rules (coupons, 包邮, 运费险, carriers, after-sale)."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from xiaoer.demo.common import pick
from xiaoer.demo.geo import REMOTE_PROVINCES
from xiaoer.demo.logistics import Origin
from xiaoer.demo.orders import AfterSalePlan, Rules, after_sale_record, pick_coupon
from xiaoer.demo.timeline import Timeline

SHOP: dict[str, Any] = {
    "id": "stride",
    "name": "步履不停运动旗舰店",
    "persona": (
        "你是「步履不停运动旗舰店」的智能客服小步。说话亲切、干脆，称呼顾客为「亲」，"
        "回答尽量给出具体信息（尺码建议、物流进度、退换规则）；不确定的事不乱承诺，"
        "涉及退款、改价或投诉时先安抚，再按店铺政策处理，必要时转人工客服。"
    ),
    "timezone": "Asia/Shanghai",
    "working_hours": "09:00-22:00",
    "description": (
        "步履 STRIDE 官方旗舰店，专注跑鞋、篮球鞋、训练鞋与运动服饰。福建晋江自有仓发货，"
        "付款后48小时内发出，实付满99元包邮，支持7天无理由退货（定制款除外），多数订单赠送运费险。"
    ),
}

AGENTS = ["客服小美", "客服阿杰", "客服小鹿", "客服糖糖", "客服大熊"]
COUPONS = [
    (49900, 5000, "店铺券满499减50"),
    (29900, 3000, "店铺券满299减30"),
    (19900, 2000, "店铺券满199减20"),
    (9900, 1000, "新人券满99减10"),
]
FREE_SHIPPING_FEN = 9900
REMOTE_FREE_SHIPPING_FEN = 19900
SHIPPING_FEE_FEN = 800
REMOTE_SHIPPING_FEE_FEN = 2000
SF_THRESHOLD_FEN = 39900

_SIZE_WEIGHT = {
    "35": 4,
    "36": 9,
    "37": 11,
    "38": 10,
    "39": 8,
    "40": 9,
    "41": 11,
    "42": 13,
    "43": 10,
    "44": 6,
    "45": 3,
    "33": 3,
    "34": 4,
    "S": 6,
    "M": 12,
    "L": 12,
    "XL": 9,
    "XXL": 4,
}
_CUSTOM_TEXT = {
    "跑鞋": ["刻字：LIN 23", "刻字：ZHANG 42KM", "鞋舌刻字：奔跑吧少年", "刻字：FIRST 42K"],
    "篮球鞋": ["配色：队服红黑，后跟印：王 7 号", "后跟印：CHEN 24，鞋舌印队徽（图稿已发客服）"],
    "休闲鞋": ["印字：Keep Running", "印图：情侣头像（照片已发客服）", "印字：我们的第一个全马"],
    "T恤": ["跑团：西湖晨跑团，名字按表格", "胸前印：逐风跑团，背后印名字，名单稍后发客服"],
    "球衣": ["队名：雷霆队，号码见附件", "号码：11、23、24、30、33，名字稍后发客服"],
}
_REMARKS = [
    ("请尽快发货，周末要穿", 4),
    ("不要放驿站，送货上门", 4),
    ("送人的，不要放发票和价格单", 3),
    ("鞋盒别压坏，谢谢", 3),
    ("放门口就行", 2),
    ("麻烦发顺丰，可以补差价", 1),
    ("尺码拿不准，先发42，不合适再换", 1),
]


def is_custom(product: dict[str, Any]) -> bool:
    """定制款: made to order, not returnable without a quality problem."""
    return "定制款" in product.get("tags", [])


class StrideRules(Rules):
    """Order rules that follow stride's policy.md."""

    origin = Origin("福建省", "泉州市", "晋江市", "晋江陈埭仓")
    payments = [("支付宝", 50), ("微信支付", 32), ("花呗", 14), ("信用卡", 4)]

    def _product(self, line: dict[str, Any]) -> dict[str, Any]:
        return self.catalog.by_id[line["product_id"]]

    def sku_weight(self, product: dict[str, Any], sku: dict[str, Any]) -> int:
        size = sku["options"].get("尺码", "M")
        return _SIZE_WEIGHT.get(size.split("(")[0], 6)

    def quantity(self, rng: random.Random, product: dict[str, Any]) -> int:
        if is_custom(product) and product["category"] in ("球衣", "T恤"):
            return pick(rng, [(1, 30), (rng.randint(5, 12), 70)])
        if product["category"] == "袜子":
            return pick(rng, [(1, 50), (2, 35), (3, 15)])
        if product["category"] == "T恤":
            return pick(rng, [(1, 80), (2, 20)])
        return pick(rng, [(1, 96), (2, 4)])

    def extra_product(self, rng: random.Random, first: dict[str, Any]) -> dict[str, Any]:
        if rng.random() < 0.55:
            addons = [(p, w) for p, w in self.catalog.weighted if p["category"] in ("袜子", "T恤")]
            return pick(rng, addons)
        return pick(rng, self.catalog.weighted)

    def money(
        self,
        rng: random.Random,
        lines: list[dict[str, Any]],
        shopper: dict[str, Any],
        addr: dict[str, str],
        total: int,
    ) -> tuple[int, int, dict[str, Any]]:
        extras: dict[str, Any] = {}
        discount, name = pick_coupon(rng, COUPONS, total, 0.45)
        if name:
            extras["coupon"] = name
        remote = addr["province"] in REMOTE_PROVINCES
        free_at = REMOTE_FREE_SHIPPING_FEN if remote else FREE_SHIPPING_FEN
        fee = (
            0
            if total - discount >= free_at
            else (REMOTE_SHIPPING_FEE_FEN if remote else SHIPPING_FEE_FEN)
        )
        return discount, fee, extras

    def carrier(
        self, rng: random.Random, lines: list[dict[str, Any]], shopper: dict[str, Any], total: int
    ) -> str:
        if total >= SF_THRESHOLD_FEN or shopper.get("level") in ("金卡会员", "钻石会员"):
            return "顺丰速运"
        return pick(rng, [("中通快递", 40), ("圆通速递", 30), ("韵达快递", 30)])

    def remark(self, rng: random.Random, lines: list[dict[str, Any]]) -> str:
        if any(is_custom(self._product(line)) for line in lines):
            custom = next(self._product(line) for line in lines if is_custom(self._product(line)))
            return rng.choice(_CUSTOM_TEXT[custom["category"]])
        return pick(rng, [("", 82), (pick(rng, _REMARKS), 18)])

    def after_sale_plan(self, rng: random.Random, lines: list[dict[str, Any]]) -> AfterSalePlan:
        custom = [self._product(line) for line in lines if is_custom(self._product(line))]
        if custom:
            if rng.random() < 0.5:
                return AfterSalePlan(
                    "换货", "定制内容与确认稿不符（印错字）", window=timedelta(days=15)
                )
            shoe = custom[0]["category"].endswith("鞋")
            reason = "质量问题：鞋面开胶" if shoe else "质量问题：烫画起皮脱落"
            return AfterSalePlan("退货退款", reason, window=timedelta(days=30))
        kind = pick(rng, [("退货退款", 55), ("换货", 30), ("仅退款", 15)])
        if kind == "退货退款":
            reason = pick(
                rng,
                [
                    ("尺码不合适", 35),
                    ("不喜欢/效果不好", 20),
                    ("颜色与图片有色差", 12),
                    ("穿着磨脚", 13),
                    ("质量问题：鞋底开胶", 10),
                    ("发错货", 10),
                ],
            )
            return AfterSalePlan(kind, reason)
        if kind == "换货":
            reason = pick(
                rng, [("尺码偏小，换大一码", 50), ("尺码偏大，换小一码", 35), ("想换颜色", 15)]
            )
            return AfterSalePlan(kind, reason)
        if rng.random() < 0.65:
            return AfterSalePlan(kind, "未发货，不想要了", shipped=False)
        return AfterSalePlan(kind, pick(rng, [("少发赠品袜子", 1), ("鞋盒压坏，申请补偿", 1)]))

    def decorate(
        self, rng: random.Random, order: dict[str, Any], tl: Timeline, plan: AfterSalePlan | None
    ) -> None:
        custom = any(is_custom(self._product(line)) for line in order["lines"])
        if order["paid_at"] and not custom and rng.random() < 0.6:
            order["extras"]["运费险"] = True
        if plan is None:
            return
        record = after_sale_record(rng, order, tl, plan)
        if plan.type == "换货" and "尺码" in plan.reason:
            target = self._exchange_target(order["lines"][0], plan.reason)
            if target:
                record["exchange_to"] = {"sku_id": target["id"], "options": target["options"]}
        order["extras"]["after_sale"] = record

    def _exchange_target(self, line: dict[str, Any], reason: str) -> dict[str, Any] | None:
        """Same product and colour, one size up or down."""
        skus = self.catalog.by_id[line["product_id"]]["skus"]
        same = [s for s in skus if s["options"].get("颜色") == line["options"].get("颜色")]
        ids = [s["id"] for s in same]
        i = ids.index(line["sku_id"]) + (1 if "大" in reason else -1)
        return same[i] if 0 <= i < len(same) else None

    def demo_orders(self) -> list[tuple[str, dict[str, Any], list[tuple[str, int]]]]:
        return [
            ("待付款", {}, [("P0041-BLK-M", 1)]),
            ("待发货", {}, [("P0012-WHT-38", 1), ("P0042-WHT-M", 2)]),
            ("已发货", {"min_events": 4}, [("P0001-BLK-42", 1)]),
            ("已发货", {"delayed": True, "min_events": 3}, [("P0029-PNK-M", 1)]),
            ("已签收", {}, [("P0002-WHT-38", 1)]),
            ("已完成", {}, [("P0019-CRM-38", 1)]),
            ("已完成", {}, [("P0039-NVY-XL", 1), ("P0030-BLK-L", 2)]),
            ("售后中", {"plan": AfterSalePlan("退货退款", "尺码不合适")}, [("P0025-PNK-38", 1)]),
            ("已取消", {}, [("P0022-CRM-38", 1)]),
        ]


DEMO_SHOPPER: dict[str, Any] = {
    "id": "U00001",
    "name": "王芳",
    "phone": "13812345678",
    "level": "金卡会员",
    "addresses": [
        {
            "name": "王芳",
            "phone": "13812345678",
            "province": "浙江省",
            "city": "杭州市",
            "district": "西湖区",
            "detail": "文三路 100 号 3 幢 502",
        },
        {
            "name": "王芳",
            "phone": "13812345678",
            "province": "浙江省",
            "city": "杭州市",
            "district": "滨江区",
            "detail": "江南大道 588 号恒鑫大厦 12 楼前台",
        },
        {
            "name": "王建国",
            "phone": "13905778826",
            "province": "浙江省",
            "city": "温州市",
            "district": "鹿城区",
            "detail": "车站大道 366 号锦绣华庭 7 栋 1 单元 1602",
        },
    ],
}
