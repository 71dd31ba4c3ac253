"""伏特数码家电旗舰店: shop profile and order rules (国补, 安装, 发票, carriers, after-sale)."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from xiaoer.demo.catalog_volt import BIG, DIGITAL_SUBSIDY
from xiaoer.demo.common import hours, pick
from xiaoer.demo.logistics import Origin
from xiaoer.demo.orders import AfterSalePlan, Rules, after_sale_record, pick_coupon
from xiaoer.demo.timeline import Timeline

SHOP: dict[str, Any] = {
    "id": "volt",
    "name": "伏特数码家电旗舰店",
    "persona": (
        "你是「伏特数码家电旗舰店」的智能客服小伏。专业、耐心、说话清楚，称呼顾客为「您」或「亲」；"
        "解答手机数码和大家电的参数、国补、安装、保修、价保、发票问题时给出具体规则和时间，"
        "国补一律说明以当地政策为准；拿不准的情况不编造，及时转人工或安装专员。"
    ),
    "timezone": "Asia/Shanghai",
    "working_hours": "09:00-22:00",
    "description": (
        "伏特数码家电旗舰店，经营手机、耳机、平板、智能手表及空调、冰箱、洗衣机、电视、热水器等家电。"
        "数码产品东莞仓24小时内发货，大家电佛山仓48小时内发货、送装一体；全场包邮，支持国家补贴、"
        "15天价保、电子普票与增值税专用发票。"
    ),
}

AGENTS = ["客服小雪", "客服阿伟", "客服小七", "售后小林"]  # 安装专员老周 takes installation chats
COUPONS = [
    (500000, 30000, "店铺券满5000减300"),
    (200000, 10000, "店铺券满2000减100"),
    (100000, 5000, "店铺券满1000减50"),
]
DIGITAL_CAP_FEN = 600000
COMPANIES = [
    "杭州星辰网络科技有限公司",
    "上海云帆信息技术有限公司",
    "深圳市前海优品贸易有限公司",
    "成都蓉城文化传媒有限公司",
    "南京启明软件有限公司",
    "武汉江城物业管理有限公司",
    "北京青禾教育咨询有限公司",
    "广州市海珠区乐家装饰工程部",
]
_REMARKS_BIG = [
    ("送货前请提前电话联系", 4),
    ("工作日白天家里有人，周末也可以", 3),
    ("需要安装，家里老人在", 2),
    ("楼层7楼无电梯", 1),
    ("旧机需要拆走，可付费", 1),
]
_REMARKS = [
    ("请尽快发货", 3),
    ("不要放快递柜，送货上门", 3),
    ("送人的，不要放价格单", 2),
    ("开专票，开票信息已在发票栏填写", 1),
]


def subsidy_rate(product: dict[str, Any], price_fen: int) -> int:
    """Percent of 国补 for one unit (0 if not eligible)."""
    attrs = product["attributes"]
    if "国补品类" not in attrs:
        return 0
    if product["category"] in DIGITAL_SUBSIDY:
        return 15 if price_fen <= DIGITAL_CAP_FEN else 0
    return 20 if attrs.get("能效等级") == "一级" else 15


def subsidy_fen(product: dict[str, Any], price_fen: int) -> int:
    """国补 amount for one unit, capped (digital ¥500, appliances ¥2000)."""
    rate = subsidy_rate(product, price_fen)
    cap = 50000 if product["category"] in DIGITAL_SUBSIDY else 200000
    return min(price_fen * rate // 100, cap)


class VoltRules(Rules):
    """Order rules that follow volt's policy.md."""

    origin = Origin("广东省", "东莞市", "松山湖", "东莞松山湖数码仓")
    big_origin = Origin("广东省", "佛山市", "顺德区", "顺德大家电仓")
    payments = [("支付宝", 38), ("微信支付", 28), ("花呗分期", 16), ("信用卡", 10), ("云闪付", 8)]

    def _product(self, line: dict[str, Any]) -> dict[str, Any]:
        return self.catalog.by_id[line["product_id"]]

    def _has_big(self, lines: list[dict[str, Any]]) -> bool:
        return any(self._product(line)["category"] in BIG for line in lines)

    def quantity(self, rng: random.Random, product: dict[str, Any]) -> int:
        if product["category"] == "配件":
            return pick(rng, [(1, 75), (2, 25)])
        return pick(rng, [(1, 96), (2, 4)])

    def extra_product(self, rng: random.Random, first: dict[str, Any]) -> dict[str, Any]:
        if first["category"] in BIG or rng.random() < 0.6:
            small = [
                (p, w)
                for p, w in self.catalog.weighted
                if p["category"] in ("配件", "蓝牙耳机", "智能手表")
            ]
            return pick(rng, small)
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
        discount, name = pick_coupon(rng, COUPONS, total, 0.35)
        if name:
            extras["coupon"] = name
        eligible = [
            line for line in lines if subsidy_rate(self._product(line), line["unit_price_fen"])
        ]
        if eligible and rng.random() < 0.55:
            line = eligible[0]
            product = self._product(line)
            amount = subsidy_fen(product, line["unit_price_fen"])
            discount += amount
            extras["national_subsidy"] = {
                "category": product["attributes"]["国补品类"],
                "rate": f"{subsidy_rate(product, line['unit_price_fen'])}%",
                "sku_id": line["sku_id"],
                "discount_fen": amount,
                "note": "国家补贴下单立减，以当地政策为准；退货需同步退回补贴",
            }
        return discount, 0, extras

    def carrier(
        self, rng: random.Random, lines: list[dict[str, Any]], shopper: dict[str, Any], total: int
    ) -> str:
        if self._has_big(lines):
            return pick(rng, [("日日顺物流", 70), ("京东快递", 30)])
        return pick(rng, [("顺丰速运", 60), ("京东快递", 40)])

    def origin_for(self, lines: list[dict[str, Any]]) -> Origin:
        return self.big_origin if self._has_big(lines) else self.origin

    def remark(self, rng: random.Random, lines: list[dict[str, Any]]) -> str:
        pool = _REMARKS_BIG if self._has_big(lines) else _REMARKS
        return pick(rng, [("", 80), (pick(rng, pool), 20)])

    def after_sale_plan(self, rng: random.Random, lines: list[dict[str, Any]]) -> AfterSalePlan:
        big = self._has_big(lines)
        kind = pick(rng, [("退货退款", 45), ("换货", 35), ("仅退款", 20)])
        quality = timedelta(days=15)
        if kind == "换货":
            reasons = (
                [
                    ("质量问题：空调外机异响", 1),
                    ("质量问题：冰箱不制冷", 1),
                    ("送货时外观磕碰", 1),
                    ("质量问题：电视屏幕有亮线", 1),
                ]
                if big
                else [
                    ("质量问题：左耳没声音", 2),
                    ("质量问题：屏幕有坏点", 1),
                    ("质量问题：无法充电", 1),
                    ("质量问题：蓝牙频繁断连", 1),
                ]
            )
            return AfterSalePlan(kind, pick(rng, reasons), window=quality)
        if kind == "退货退款":
            reasons = (
                [("未安装，不想要了", 3), ("尺寸不合适，放不下", 2)]
                if big
                else [
                    ("七天无理由（未拆封）", 3),
                    ("买多了/拍错型号（未拆封）", 2),
                    ("质量问题：开机黑屏", 1),
                ]
            )
            return AfterSalePlan(kind, pick(rng, reasons))
        if rng.random() < 0.6:
            return AfterSalePlan(kind, "未发货，不想要了", shipped=False)
        reason = "安装辅材费多收，申请退差价" if big else "赠品漏发，申请补偿"
        return AfterSalePlan(kind, reason)

    def decorate(
        self, rng: random.Random, order: dict[str, Any], tl: Timeline, plan: AfterSalePlan | None
    ) -> None:
        extras = order["extras"]
        if order["paid_at"] and not self._has_big(order["lines"]) and rng.random() < 0.25:
            extras["运费险"] = True
        open_order = order["paid_at"] and order["status"] != "已取消"
        if open_order and ("national_subsidy" in extras or rng.random() < 0.4):
            extras["invoice"] = self._invoice(rng, order, "national_subsidy" in extras)
        install = self._installation(rng, order, tl)
        if install:
            extras["installation"] = install
        if plan is not None:
            extras["after_sale"] = after_sale_record(rng, order, tl, plan)

    def _invoice(self, rng: random.Random, order: dict[str, Any], subsidy: bool) -> dict[str, Any]:
        status = "已开具" if order["shipped_at"] else "待开具"
        if subsidy or rng.random() < 0.85:
            return {"type": "电子普通发票", "title": "个人", "status": status}
        tax_id = "91" + "".join(str(rng.randint(0, 9)) for _ in range(14)) + "XY"
        return {
            "type": "增值税专用发票",
            "title": rng.choice(COMPANIES),
            "tax_id": tax_id,
            "status": status,
        }

    def _installation(
        self, rng: random.Random, order: dict[str, Any], tl: Timeline
    ) -> dict[str, Any] | None:
        needs = any(
            self._product(line)["attributes"].get("是否含安装") == "是" for line in order["lines"]
        )
        if not needs or order["status"] in ("待付款", "已取消"):
            return None
        if tl.delivered is None:
            return {"required": True, "status": "待预约"}
        installed = tl.delivered + hours(rng, 1, 40)
        if order["status"] == "已签收" and (installed > self.anchor or rng.random() < 0.4):
            booked = min(tl.delivered + hours(rng, 0.2, 3), self.anchor)
            return {"required": True, "status": "已预约，待上门", "booked_at": booked}
        if installed > self.anchor:
            return {"required": True, "status": "待预约"}
        return {"required": True, "status": "已安装", "installed_at": installed}

    def demo_orders(self) -> list[tuple[str, dict[str, Any], list[tuple[str, int]]]]:
        quality = AfterSalePlan("换货", "质量问题：左耳没声音", window=timedelta(days=15))
        return [
            ("待付款", {}, [("P0039-75", 1)]),
            ("待发货", {}, [("P0022-15P", 1)]),
            ("已发货", {"min_events": 4}, [("P0001-BLU-256", 1), ("P0048-W-SET", 1)]),
            ("已发货", {"delayed": True, "min_events": 3}, [("P0019-BLK", 1)]),
            ("已签收", {}, [("P0034-IWH-10KG", 1)]),
            ("已完成", {}, [("P0008-CER", 1)]),
            ("已完成", {}, [("P0028-SGY", 1)]),
            ("售后中", {"plan": quality}, [("P0010-CER", 1)]),
            ("已取消", {}, [("P0005-GRN-256", 1)]),
        ]


DEMO_SHOPPER: dict[str, Any] = {
    "id": "U00001",
    "name": "张伟",
    "phone": "13621886650",
    "level": "PLUS会员",
    "addresses": [
        {
            "name": "张伟",
            "phone": "13621886650",
            "province": "上海市",
            "city": "上海市",
            "district": "浦东新区",
            "detail": "张杨路 1688 号中海国际社区 12 号楼 801 室",
        },
        {
            "name": "张伟",
            "phone": "13621886650",
            "province": "上海市",
            "city": "上海市",
            "district": "徐汇区",
            "detail": "漕溪北路 398 号汇智大厦 15 楼",
        },
        {
            "name": "刘秀英",
            "phone": "13705126637",
            "province": "江苏省",
            "city": "苏州市",
            "district": "姑苏区",
            "detail": "人民路 2155 号翠苑一区 5 幢 302 室",
        },
    ],
}
