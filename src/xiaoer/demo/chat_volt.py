"""Chat topics of 伏特数码家电: 国补, 安装预约, 保修, 价保, 退货, 质量换货, 参数."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from xiaoer.demo.catalog_volt import BIG
from xiaoer.demo.chat_common import COMMON_TOPICS, md, short_title
from xiaoer.demo.chat_engine import Draft, Topic, World
from xiaoer.demo.common import yuan
from xiaoer.demo.shop_volt import subsidy_fen, subsidy_rate


def _is_big(product: dict[str, Any]) -> bool:
    return product["category"] in BIG


_SUBSIDY_ASK = [
    "{t}能用国补吗？",
    "我在{c}，买{s}能领国补吗",
    "{t}国补能补多少",
    "国补的钱是直接减吗？想买{s}",
]
_SUBSIDY_BAD = [
    "所有商品都能国补，直接下单就行。",
    "国补就是打八折，全国都一样。",
    "这个要问政府，我们不知道。",
    "国补名额早没了。",
]


def _subsidy_answer(product: dict[str, Any], sku: dict[str, Any], city: str) -> str:
    """The correct 国补 answer for one SKU, shipped to `city`."""
    title, attrs, price = product["title"], product["attributes"], sku["price_fen"]
    rate = subsidy_rate(product, price)
    if rate:
        spec = "、".join(sku["options"].values())
        return (
            f"亲，{title}（{spec}，{yuan(price)}）属于{attrs['国补品类']}国补品类，补贴{rate}%，"
            f"大约立减{yuan(subsidy_fen(product, price))}，具体以当地政策和结算页为准。"
            f"下单前要在「国补专区」实名认证并领取{city}的补贴资格，收货地址也要在{city}哦~"
        )
    if attrs.get("能效等级") not in (None, "一级", "二级"):
        return f"亲，{title}是{attrs['能效等级']}能效，不在国补范围内，一级、二级能效的款式才能补贴哦。"
    return (
        f"亲，这个规格售价{yuan(price)}，超过了数码国补6000元的上限，不能参与国补；"
        "6000元以内的规格可以申请，以当地政策为准。"
    )


def subsidy(w: World, rng: random.Random, bad: bool) -> Draft | None:
    """国补: eligibility by category, price cap and energy grade — always 以当地政策为准."""
    kinds = ("手机", "平板", "智能手表", *BIG)
    product = rng.choice(w.products_where(lambda p: p["category"] in kinds))
    sku = rng.choice(product["skus"])
    shopper = w.random_shopper(rng)
    city = shopper["addresses"][0]["city"]
    asks = _SUBSIDY_ASK + (["{s}是一级能效吗，能补多少"] if _is_big(product) else [])
    title = product["title"]
    ask = rng.choice(asks).format(t=title, s=short_title(title), c=city)
    good = _subsidy_answer(product, sku, city)
    turns = [("shopper", ask), ("agent", rng.choice(_SUBSIDY_BAD) if bad else good)]
    if not bad and subsidy_rate(product, sku["price_fen"]) and rng.random() < 0.5:
        turns += [
            ("shopper", "能开公司发票吗"),
            ("agent", "国补订单只能开与实名认证人一致的个人抬头电子普通发票哦。"),
        ]
    return Draft(["国补"], turns, bad, w.when(rng), shopper["id"], None)


_INSTALL_QA = {
    "空调": [
        (
            "空调什么时候能来装？",
            "亲，到货后您在订单页「预约安装」或者直接告诉我方便的时间，"
            "师傅24小时内电话联系您，48小时内上门。",
        ),
        (
            "装空调要另外收钱吗",
            "标准安装免费，含3米铜管、1个穿墙孔和室外机支架；超出部分按标准收费，"
            "1-1.5匹铜管60元/米、2-3匹80元/米，高空作业150元起，师傅会先出示收费标准给您确认。",
        ),
    ],
    "热水器": [
        (
            "热水器包安装吗？要买什么配件",
            "包标准安装的亲，辅材另收：混水阀120元、软管25元/根、"
            "角阀20元/个，按实际使用收费，施工前师傅会跟您确认。",
        )
    ],
    "电视": [
        (
            "电视能挂墙吗，送挂架吗",
            "65英寸及以上送标准壁挂架并免费壁挂；65英寸以下座装免费，需要挂墙的话挂架99元。",
        )
    ],
    "洗衣机": [
        ("洗衣机要自己装吗", "不用的亲，免费上门安装，含进水管和排水管，您准备好水龙头就行。")
    ],
}


def installation(w: World, rng: random.Random, bad: bool) -> Draft | None:
    """安装预约: booking and charges for AC, heaters, TVs and washers."""
    order = w.find_order(rng, lambda o: "installation" in o["extras"] and o["shipped_at"])
    if order is None:
        return None
    product = w.product_of(order)
    qa = _INSTALL_QA.get(product["category"])
    if qa is None:
        return None
    ask, good = rng.choice(qa)
    start = w.when(
        rng,
        order["shipped_at"] + timedelta(hours=6),
        (order["delivered_at"] or w.anchor) + timedelta(days=2),
    )
    bads = [
        "全部免费，不收任何费用。",
        "您自己找师傅装，外面便宜。",
        "师傅忙，等着吧。",
        "这个我不清楚，问师傅。",
    ]
    turns = [("shopper", f"订单{order['id']}，{ask}"), ("agent", rng.choice(bads) if bad else good)]
    if not bad and rng.random() < 0.5:
        turns += [
            ("shopper", "那帮我约周六上午"),
            ("agent", "好的，已为您登记周六上午上门，师傅会提前电话联系确认具体时间~"),
        ]
    agent = "安装专员老周" if rng.random() < 0.5 else None
    return Draft(["安装预约"], turns, bad, start, order["shopper_id"], order["id"], agent)


def warranty(w: World, rng: random.Random, bad: bool) -> Draft | None:
    """保修: warranty terms from the product; repairs after the 15-day exchange window."""
    order = w.find_order(rng, lambda o: o["status"] == "已完成")
    if order is None:
        return None
    product = w.product_of(order)
    terms = product["attributes"].get("保修", "整机1年")
    start = w.when(rng, order["delivered_at"] + timedelta(days=16), w.anchor)
    if start < order["delivered_at"] + timedelta(days=16):
        return None
    ask = rng.choice(["{t}保修多久？", "买的{s}坏了，还在保修期吗", "{s}出问题了怎么报修"]).format(
        t=product["title"], s=short_title(product["title"])
    )
    good = (
        f"亲，{product['title']}保修政策是{terms}，您{md(order['delivered_at'])}签收，还在保修期内。"
        "已过15天换新期，非人为故障可以免费维修，您在订单页「申请售后-维修」或者把故障情况发我，"
        "我帮您登记报修。"
    )
    bads = [
        "过保了亲，只能自费修。",
        "只保3个月的。",
        "找厂家去，我们不管售后。",
        "你是不是自己摔坏的？",
    ]
    turns = [("shopper", ask), ("agent", rng.choice(bads) if bad else good)]
    return Draft(["保修"], turns, bad, start, order["shopper_id"], order["id"])


def price_protection(w: World, rng: random.Random, bad: bool) -> Draft | None:
    """价保: 15 days after delivery, store price only (not 国补/秒杀/直播间)."""
    order = w.find_order(
        rng, lambda o: o["delivered_at"] is not None and o["lines"][0]["unit_price_fen"] >= 50000
    )
    if order is None:
        return None
    line = order["lines"][0]
    start = w.when(
        rng, order["delivered_at"] + timedelta(days=1), order["delivered_at"] + timedelta(days=20)
    )
    drop = rng.choice([5000, 10000, 20000, 30000])
    ask = rng.choice(
        ["刚买完就降价了，能补差价吗", "{t}降了{d}块，能保价吗", "价保多少天？我这单还能申请吗"]
    ).format(t=line["title"], d=drop // 100)
    if start > order["delivered_at"] + timedelta(days=15):
        good = f"亲，您是{md(order['delivered_at'])}签收的，已经超过15天价保期了，这次没办法申请，抱歉哈。"
    elif "national_subsidy" in order["extras"]:
        good = (
            f"亲，您在15天价保期内，店铺价降低的{yuan(drop)}可以申请补差；国补立减部分不参与价保，"
            "审核通过后1-3个工作日原路退回。"
        )
    else:
        good = (
            f"可以的亲，您{md(order['delivered_at'])}签收，还在15天价保期内，核实同款同规格降价"
            f"{yuan(drop)}，已为您提交价保，审核通过后1-3个工作日原路退回差价~"
        )
    bads = [
        "我们不保价的。",
        "价保30天，随时可以申请。",
        "降价是活动，跟您没关系。",
        "这个不清楚。",
    ]
    turns = [("shopper", ask), ("agent", rng.choice(bads) if bad else good)]
    return Draft(["价保"], turns, bad, start, order["shopper_id"], order["id"])


def return_goods(w: World, rng: random.Random, bad: bool) -> Draft | None:
    """退货: opened earphones, activated phones and installed appliances are excluded."""
    order = w.find_order(rng, lambda o: o["delivered_at"] is not None)
    if order is None:
        return None
    product = w.product_of(order)
    title, cat = product["title"], product["category"]
    start = w.when(
        rng, order["delivered_at"] + timedelta(hours=3), order["delivered_at"] + timedelta(days=6)
    )
    opened = rng.random() < 0.5
    if cat == "蓝牙耳机" and opened:
        ask = "耳机拆开试了一下，不太喜欢，能退吗"
        good = "亲，蓝牙耳机出于卫生原因，拆封后不支持7天无理由退货；如果有音质、连接等质量问题，签收15天内可以检测换新。"
        wrong = "可以退的亲，拆了也没关系。"
    elif cat in ("手机", "平板", "智能手表") and opened:
        ask = f"{short_title(title)}已经激活用了两天，想退可以吗"
        good = f"亲，{cat}开机联网激活后就不支持7天无理由退货了；如果是性能故障，签收15天内检测确认后可以换新或退货。"
        wrong = "可以退，激活了也能无理由退。"
    elif _is_big(product) and opened:
        ask = f"{short_title(title)}已经装好了，但是不想要了，能退吗"
        good = "亲，大家电安装使用后不支持7天无理由退货；如果有质量问题，签收15天内检测确认后可以换新或退货。"
        wrong = "可以的，让师傅拆下来拉走就行，不收钱。"
    else:
        ask = rng.choice(
            [f"{title}还没拆封，想退", f"订单{order['id']}没拆过，不想要了", "没开封的能退吗"]
        )
        fee = (
            "，大家电上门取件费由您承担（空调冰箱洗衣机200元、电视150元、热水器100元）"
            if _is_big(product)
            else ""
        )
        good = (
            f"可以的亲，您{md(order['delivered_at'])}签收，还在7天内，未拆封包装完好支持无理由退货"
            f"{fee}，在订单页申请退货就行，验货通过后48小时内原路退款。"
        )
        wrong = "不能退的亲，售出不退。"
    bad_text = rng.choice([wrong, wrong, "规则页面写着呢，自己看。"])
    turns = [("shopper", ask), ("agent", bad_text if bad else good)]
    return Draft(["退货"], turns, bad, start, order["shopper_id"], order["id"])


_PROBLEMS = {
    "蓝牙耳机": ["左耳没声音", "充电盒充不进电", "蓝牙老断连"],
    "手机": ["屏幕有个坏点", "充电很烫还充不进", "信号老是掉"],
    "智能手表": ["屏幕不亮了", "心率一直测不出来"],
    "平板": ["屏幕有亮线", "充不进电"],
    "冰箱": ["冷藏室不制冷"],
    "空调": ["外机响声特别大"],
    "电视": ["屏幕有一条亮线"],
    "洗衣机": ["脱水的时候晃得厉害"],
}


def quality_exchange(w: World, rng: random.Random, bad: bool) -> Draft | None:
    """质量换货: 15 days after delivery, after inspection; then warranty repair."""
    order = w.find_order(
        rng, lambda o: o["delivered_at"] is not None and w.product_of(o)["category"] in _PROBLEMS
    )
    if order is None:
        return None
    product = w.product_of(order)
    days = rng.randint(2, 20)
    start = w.when(
        rng,
        order["delivered_at"] + timedelta(days=days),
        order["delivered_at"] + timedelta(days=days, hours=12),
    )
    problem = rng.choice(_PROBLEMS[product["category"]])
    ask = rng.choice(
        ["{s}才用了{n}天就{p}，能换新吗", "买的{s}{p}，咋办", "{p}，订单{o}，要求换新"]
    ).format(s=short_title(product["title"]), n=days, p=problem, o=order["id"])
    if start <= order["delivered_at"] + timedelta(days=15):
        good = f"非常抱歉亲！您{md(order['delivered_at'])}签收，还在15天质量换货期内。" + (
            "我帮您预约售后师傅上门检测，确认是质量问题直接换同型号新机。"
            if _is_big(product)
            else "您在订单页申请换货寄回售后中心，检测确认是质量问题后48小时内给您发新机，往返运费我们承担。"
        )
        wrong = "只能修，不能换。"
    else:
        good = (
            f"抱歉亲，您{md(order['delivered_at'])}签收，已超过15天换新期，不过还在保修期内"
            f"（{product['attributes'].get('保修', '整机1年')}），非人为故障免费维修，我帮您登记报修。"
        )
        wrong = "超过15天就不管了，自己找地方修。"
    bad_text = rng.choice([wrong, "您是不是摔过？人为的不管。", "不清楚，您找厂家吧。"])
    turns = [("shopper", ask), ("agent", bad_text if bad else good)]
    return Draft(["换货", "质量问题"], turns, bad, start, order["shopper_id"], order["id"])


_SPEC_KEYS = [
    ("适用面积", "{t}多大面积适用？"),
    ("总容积", "{t}多少升？"),
    ("尺寸", "{t}尺寸多大，我家放得下吗"),
    ("电池容量", "{t}电池多大？"),
    ("防水等级", "{t}防水吗，跑步出汗有影响吗"),
    ("刷新率", "{t}刷新率多少？打游戏行吗"),
    ("降噪", "{t}降噪效果怎么样"),
    ("续航", "{t}续航多久？"),
    ("能效等级", "{t}是几级能效？"),
]


def specs(w: World, rng: random.Random, bad: bool) -> Draft | None:
    """参数咨询: facts straight from the attributes; bad answers invent them."""
    key, ask = rng.choice(_SPEC_KEYS)
    items = w.products_where(lambda p: key in p["attributes"])
    product = rng.choice(items)
    value = product["attributes"][key]
    if isinstance(value, dict):
        value = "；".join(f"{k}约{v}" for k, v in value.items())
    good = f"亲，{product['title']}的{key}是：{value}，详情页参数表里也能看到哦~"
    bads = [
        "这个参数是最好的，放心买。",
        "我也不太清楚，您看详情页吧。",
        f"{key}是同类最高的，没有之一。",
    ]
    turns = [
        ("shopper", ask.format(t=product["title"])),
        ("agent", rng.choice(bads) if bad else good),
    ]
    return Draft(["商品咨询"], turns, bad, w.when(rng), w.random_shopper(rng)["id"], None)


TOPICS: list[tuple[Topic, int]] = [
    *COMMON_TOPICS,
    (subsidy, 12),
    (installation, 9),
    (warranty, 6),
    (price_protection, 6),
    (return_goods, 8),
    (quality_exchange, 8),
    (specs, 8),
]
