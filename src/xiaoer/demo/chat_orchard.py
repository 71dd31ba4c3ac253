"""Chat topics of 山野鲜果: 坏果理赔, 储存与保质期, 催熟, 过敏, 预售发货, 规格等级, 礼盒."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from xiaoer.demo.chat_common import COMMON_TOPICS, md, short_title
from xiaoer.demo.chat_engine import Draft, Topic, World
from xiaoer.demo.common import yuan

_DAMAGE_ASK = [
    "收到的{s}有{n}个坏了，怎么处理？",
    "{s}到了，打开有{n}个烂的，还有一个磕破流水了",
    "你们家{s}怎么有{n}个发霉的？",
    "昨天签收的{s}，坏了{n}个",
]
_DAMAGE_BAD = [
    "亲，水果有一两个坏的是正常损耗哦，不在赔付范围。",
    "这个是快递压坏的，您找快递公司理赔吧。",
    "您把坏果寄回来，我们收到后再看。",
    "生鲜不退不换的亲。",
]


def _unit_price(order: dict[str, Any]) -> int:
    return order["lines"][0]["unit_price_fen"]


def damaged_fruit(w: World, rng: random.Random, bad: bool) -> Draft | None:
    """坏果理赔: photo within 24 h of signing, refund per bad fruit, nothing sent back."""
    order = w.find_order(
        rng,
        lambda o: (
            o["status"] in ("已签收", "已完成")
            and w.product_of(o)["attributes"].get("坏果包赔") is not None
        ),
    )
    if order is None:
        return None
    product = w.product_of(order)
    start = w.when(rng, order["delivered_at"], order["delivered_at"] + timedelta(hours=20))
    n = rng.randint(1, 4)
    ask = rng.choice(_DAMAGE_ASK).format(s=short_title(product["title"]), n=n)
    good = (
        "亲，非常抱歉让您收到坏果！麻烦拍一下坏果和快递面单的照片发给我，"
        "签收24小时内的坏果按单果均价乘以坏果个数给您退款，坏果不用寄回~"
    )
    turns = [("shopper", ask), ("agent", rng.choice(_DAMAGE_BAD) if bad else good)]
    if not bad:
        refund = min(order["pay_fen"], _unit_price(order) * n // 10)
        turns += [
            ("shopper", "[图片] 照片发你了"),
            (
                "agent",
                f"收到照片了亲，核实是{n}个坏果，给您申请仅退款{yuan(refund)}，"
                "审核通过后1-3个工作日原路退回，给您添麻烦了。",
            ),
        ]
    return Draft(["坏果", "售后"], turns, bad, start, order["shopper_id"], order["id"])


def late_damage(w: World, rng: random.Random, bad: bool) -> Draft | None:
    """坏果 reported after the 24-hour window: a human decides, nothing is promised."""
    order = w.find_order(
        rng,
        lambda o: (
            o["status"] == "已完成" and w.product_of(o)["attributes"].get("坏果包赔") is not None
        ),
    )
    if order is None:
        return None
    product = w.product_of(order)
    start = w.when(rng, order["delivered_at"] + timedelta(days=3), order["completed_at"])
    ask = f"上周收到的{short_title(product['title'])}今天发现有几个坏了，能赔吗"
    good = (
        f"亲，您是{md(order['delivered_at'])}签收的，已经超过签收后24小时的坏果反馈时间，"
        "没法确认是运输造成的；我帮您转给售后主管看一下能不能酌情处理，您先把照片发过来。"
    )
    bads = ["超过24小时了，不赔。", "可以的，全额退款给您。", "坏了正常，放久了都会坏。"]
    turns = [("shopper", ask), ("agent", rng.choice(bads) if bad else good)]
    return Draft(["坏果", "售后"], turns, bad, start, order["shopper_id"], order["id"])


def storage(w: World, rng: random.Random, bad: bool) -> Draft | None:
    """储存与保质期, from the product's own attributes."""
    product = rng.choice(w.products_where(lambda p: "保质期" in p["attributes"]))
    attrs = product["attributes"]
    ask = rng.choice(["{t}怎么保存？", "{s}能放多久？", "{s}要放冰箱吗", "{t}保质期多久"])
    ask = ask.format(t=product["title"], s=short_title(product["title"]))
    good = f"亲，{product['title']}：{attrs.get('储存方式', '')}，保质期{attrs['保质期']}。"
    bads = ["放冰箱冷冻最好，能放半年。", "随便放，放一个月都没事。", "这个看个人习惯吧。"]
    shopper = w.random_shopper(rng)
    turns = [("shopper", ask), ("agent", rng.choice(bads) if bad else good)]
    return Draft(["储存", "保质期"], turns, bad, w.when(rng), shopper["id"], None)


def ripeness(w: World, rng: random.Random, bad: bool) -> Draft | None:
    """Hard fruit on arrival: how to ripen it (not a quality problem)."""
    order = w.find_order(
        rng,
        lambda o: (
            o["status"] in ("已签收", "已完成") and "成熟说明" in w.product_of(o)["attributes"]
        ),
    )
    if order is None:
        return None
    product = w.product_of(order)
    start = w.when(rng, order["delivered_at"], order["delivered_at"] + timedelta(days=2))
    ask = f"收到的{short_title(product['title'])}硬邦邦的，是不是没熟啊？"
    good = f"亲，{product['attributes']['成熟说明']}，这是正常的哦：{product['attributes']['储存方式']}。"
    bads = ["硬的说明新鲜，直接吃就行。", "那是品控问题，给您退款吧。", "放冰箱两天就软了。"]
    turns = [("shopper", ask), ("agent", rng.choice(bads) if bad else good)]
    return Draft(["催熟"], turns, bad, start, order["shopper_id"], order["id"])


def allergy(w: World, rng: random.Random, bad: bool) -> Draft | None:
    """过敏原 questions on packaged foods and mangoes."""
    found = w.products_where(lambda p: "过敏原" in p["attributes"] or "过敏提示" in p["attributes"])
    product = rng.choice(found)
    attrs = product["attributes"]
    ask = rng.choice(
        ["{s}孩子花生过敏能吃吗", "{t}有过敏原吗？", "我对坚果过敏，{s}能吃吗"]
    ).format(t=product["title"], s=short_title(product["title"]))
    note = attrs.get("过敏原") or attrs.get("过敏提示")
    good = (
        f"亲，{product['title']}的过敏信息：{note}。过敏体质请谨慎食用，拿不准的话建议不要购买哦。"
    )
    bads = ["没有过敏原，放心吃。", "少吃一点没事的。", "这个不清楚，您自己看配料表。"]
    shopper = w.random_shopper(rng)
    turns = [("shopper", ask), ("agent", rng.choice(bads) if bad else good)]
    return Draft(["过敏"], turns, bad, w.when(rng), shopper["id"], None)


def presale_date(w: World, rng: random.Random, bad: bool) -> Draft | None:
    """预售: ship dates come from the product page, never "明天就发"."""
    order = w.find_order(rng, lambda o: o["status"] == "待发货" and "预售" in o["extras"])
    if order is None:
        return None
    product = w.product_of(order)
    start = w.when(rng, order["paid_at"], w.anchor)
    ask = f"{short_title(product['title'])}什么时候发货？{order['id']}"
    good = f"亲，{product['title']}是预售商品，{order['extras']['预售']}，您付款早，会排在前面的~"
    bads = ["明天就发。", "已经发了亲。", "预售不知道什么时候，等通知吧。"]
    turns = [("shopper", ask), ("agent", rng.choice(bads) if bad else good)]
    return Draft(["预售", "发货"], turns, bad, start, order["shopper_id"], order["id"])


def grade(w: World, rng: random.Random, bad: bool) -> Draft | None:
    """规格与等级: what a grade or size option means, from the SKU options."""
    found = w.products_where(lambda p: len(p["skus"][0]["options"]) >= 2)
    product = rng.choice(found)
    name = list(product["skus"][0]["options"])[1]
    values = sorted({s["options"][name] for s in product["skus"]})
    ask = f"{short_title(product['title'])}的{name}怎么选？有什么区别"
    good = (
        f"亲，{product['title']}的{name}有：{'、'.join(values)}，区别主要是个头大小，"
        "口感差不多；送人建议选大的，自己吃选小一档更划算。"
    )
    bads = ["都一样的，随便选。", "大的甜，小的酸。", "特级果保证每个都是糖心。"]
    shopper = w.random_shopper(rng)
    turns = [("shopper", ask), ("agent", rng.choice(bads) if bad else good)]
    return Draft(["规格"], turns, bad, w.when(rng), shopper["id"], None)


def gift_box(w: World, rng: random.Random, bad: bool) -> Draft | None:
    """礼盒: greeting cards, no price list in the parcel."""
    product = rng.choice(w.products_where(lambda p: p["category"] == "礼盒"))
    ask = rng.choice(["{s}能写贺卡吗？送长辈的", "{s}送人，里面会不会有价格单"]).format(
        s=short_title(product["title"])
    )
    good = f"亲，{product['attributes']['贺卡说明']}，放心送礼~"
    bads = ["不能写贺卡。", "价格单是默认放的，没法去掉。"]
    shopper = w.random_shopper(rng)
    turns = [("shopper", ask), ("agent", rng.choice(bads) if bad else good)]
    return Draft(["礼盒"], turns, bad, w.when(rng), shopper["id"], None)


TOPICS: list[tuple[Topic, int]] = [
    *COMMON_TOPICS,
    (damaged_fruit, 14),
    (late_damage, 4),
    (storage, 8),
    (ripeness, 6),
    (allergy, 5),
    (presale_date, 5),
    (grade, 5),
    (gift_box, 4),
]
