"""Chat topics of 步履不停: 尺码, 换货, 退货, 材质/场景, 定制, 跑鞋推荐."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from xiaoer.demo.chat_common import COMMON_TOPICS, md, short_title
from xiaoer.demo.chat_engine import Draft, Topic, World
from xiaoer.demo.common import yuan
from xiaoer.demo.shop_stride import is_custom

_ADVICE = {"偏小半码": 1, "偏大半码": 0, "标准": 0}


def _shoe_rec(product: dict[str, Any], base: int) -> int:
    return base + _ADVICE.get(product["attributes"]["尺码偏差"], 0)


def _stock_note(product: dict[str, Any], size: str, color: str | None = None) -> str:
    skus = [s for s in product["skus"] if s["options"].get("尺码") == size]
    have = [s["options"]["颜色"] for s in skus if s["stock"] > 0]
    if color and color in have:
        return f"{color}{size}码现在有货"
    if have:
        return f"{size}码现在{'、'.join(have)}有货"
    return f"{size}码目前全部断货了"


_SIZE_ASK = [
    "我脚长{l}cm，{t}穿多大码？",
    "平时穿{n}码，{t}要拍大一码吗",
    "{t}偏大还是偏小？我一般穿{n}",
    "我老公平时穿{n}码，这双{s}买多大",
    "脚比较宽，脚背也高，{s}选多大合适？平常{n}码",
]


def shoe_size(w: World, rng: random.Random, bad: bool) -> Draft | None:
    """尺码咨询 (shoes): foot length or usual size -> a concrete recommendation."""
    shoes = w.products_where(lambda p: "脚长" in str(p["attributes"].get("尺码表", "")))
    product = rng.choice(shoes)
    sizes = [int(s) for s in product["attributes"]["尺码表"]]
    usual = rng.choice(sizes[1:-1])
    foot_mm = (usual + 10) * 5
    template = rng.choice(_SIZE_ASK)
    ask = template.format(
        l=f"{foot_mm // 10}.{foot_mm % 10}",
        t=product["title"],
        n=usual,
        s=short_title(product["title"]),
    )
    bias = product["attributes"]["尺码偏差"]
    rec = min(_shoe_rec(product, usual) + (1 if "宽" in template else 0), sizes[-1])
    good = (
        f"亲，{product['title']}尺码{bias}，{usual}码对应脚长"
        f"{product['attributes']['尺码表'][str(usual)]['脚长']}，建议您拍{rec}码"
        f"{'（脚宽脚背高再加半码，本款没有半码所以选大一码）' if '宽' in template else ''}~"
    )
    bads = [
        "正常码就行，都一样。",
        "都差不多的，随便拍，不合适再说。",
        f"这款偏大一码，拍{usual - 1}就行。",
        "看详情页尺码表。",
    ]
    turns = [("shopper", ask), ("agent", rng.choice(bads) if bad else good)]
    if not bad and rng.random() < 0.6:
        color = rng.choice(product["attributes"]["颜色"])
        turns += [
            ("shopper", f"{color}的{rec}码有货吗"),
            ("agent", f"帮您看了，{_stock_note(product, str(rec), color)}，可以放心拍~"),
        ]
    shopper = w.random_shopper(rng)
    return Draft(["尺码咨询"], turns, bad, w.when(rng), shopper["id"], None)


def apparel_size(w: World, rng: random.Random, bad: bool) -> Draft | None:
    """尺码咨询 (apparel): height and weight -> size from the chart."""
    items = w.products_where(lambda p: "身高" in str(p["attributes"].get("尺码表", "")))
    product = rng.choice(items)
    chart = product["attributes"]["尺码表"]
    size = rng.choice(list(chart)[:-1])
    h_lo, h_hi = (int(x) for x in chart[size]["身高"].rstrip("cm").split("-"))
    w_lo, w_hi = (int(x) for x in chart[size]["体重"].rstrip("kg").split("-"))
    height, jin = rng.randint(h_lo, h_hi - 1), rng.randint(w_lo, w_hi - 1) * 2
    ask = rng.choice(
        [
            "身高{h}，体重{j}斤，{t}穿什么码？",
            "{h}cm {j}斤 {s}拿哪个码",
            "我{h}的个子{j}斤，穿M还是L？{t}",
        ]
    ).format(h=height, j=jin, t=product["title"], s=short_title(product["title"]))
    bias = product["attributes"]["尺码偏差"]
    tip = {
        "偏大一码": "这款版型宽松，喜欢合身也可以拍小一码",
        "偏小一码": "这款修身，喜欢宽松可以拍大一码",
    }.get(bias, "按尺码表拍就行")
    good = (
        f"亲，按尺码表{size}码对应身高{chart[size]['身高']}、体重{chart[size]['体重']}，"
        f"您拍{size}码合适，{tip}~"
    )
    bads = ["M码就行，大家都穿M。", "您自己看尺码表吧。", "都是均码的亲。"]
    turns = [("shopper", ask), ("agent", rng.choice(bads) if bad else good)]
    return Draft(["尺码咨询"], turns, bad, w.when(rng), w.random_shopper(rng)["id"], None)


def _delivered_shoe(w: World, rng: random.Random) -> dict[str, Any] | None:
    return w.find_order(
        rng,
        lambda o: (
            o["delivered_at"] is not None
            and "尺码" in o["lines"][0]["options"]
            and o["lines"][0]["options"]["尺码"].isdigit()
        ),
    )


def _insurance(order: dict[str, Any]) -> str:
    if order["extras"].get("运费险"):
        return "您的订单有运费险，寄回运费先垫付，退换完成后72小时内保险公司理赔到账"
    return "您的订单没有运费险，寄回运费需要您承担"


_UP_ASK = ["鞋子小了，能换大一码吗", "{t}穿着有点挤，想换{n}码", "{t}能换个{n}码吗"]
_DOWN_ASK = ["买大了，换小一码怎么操作", "{t}偏大，想换{n}码"]


def exchange(w: World, rng: random.Random, bad: bool) -> Draft | None:
    """换货: size/colour exchange within 7 days; custom items cannot be exchanged."""
    order = _delivered_shoe(w, rng)
    if order is None:
        return None
    line, product = order["lines"][0], w.product_of(order)
    delivered = order["delivered_at"]
    start = w.when(rng, delivered + timedelta(hours=3), delivered + timedelta(days=6))
    up = rng.random() < 0.65
    want = str(int(line["options"]["尺码"]) + (1 if up else -1))
    ask = rng.choice(_UP_ASK if up else _DOWN_ASK).format(t=line["title"], n=want)
    if is_custom(product):
        good = (
            "抱歉亲，定制款是按您的内容专门制作的，不支持换码；只有质量问题或印错字我们才免费重做。"
        )
        wrong = "可以换的亲，直接申请就行。"
    else:
        stock = _stock_note(product, want, line["options"]["颜色"])
        good = (
            f"可以的亲，签收7天内支持同款同价换码，{stock}。您在订单页申请换货把鞋寄回，"
            f"{_insurance(order)}，换出的新鞋运费我们出，仓库收到后48小时内发出~"
        )
        wrong = f"{want}码没货了，换不了。" if rng.random() < 0.5 else "换货要先退了再重新拍一双。"
    bad_text = rng.choice([wrong, "自己在订单里申请，规则都写着呢。"])
    turns = [("shopper", ask), ("agent", bad_text if bad else good)]
    if not bad and not is_custom(product) and rng.random() < 0.5:
        turns += [("shopper", "寄回的运费谁出？"), ("agent", f"亲，{_insurance(order)}。")]
    return Draft(["换货", "尺码"], turns, bad, start, order["shopper_id"], order["id"])


def _return_case(
    rng: random.Random, order: dict[str, Any], product: dict[str, Any], late: bool
) -> tuple[str, str, str]:
    """(question, correct answer, wrong answer) for a return request."""
    title, signed = order["lines"][0]["title"], md(order["delivered_at"])
    if is_custom(product):
        return (
            f"定制的{short_title(title)}做出来不太喜欢，能退吗",
            "抱歉亲，定制款是按您的内容单独制作的，不支持7天无理由退货；"
            "如果有质量问题或者印错字，我们免费重做或退款。",
            "可以退的亲，直接申请退货就行。",
        )
    if rng.random() < 0.25:  # worn
        return (
            rng.choice(["穿了一次跑步觉得磨脚，可以退吗", f"{title}穿出去一天了，不喜欢能退吗"]),
            "亲，穿着外出、鞋底有磨损会影响二次销售，不支持无理由退货哦；"
            "如果是做工问题导致磨脚，麻烦拍下鞋子内侧照片，我们按质量问题处理。",
            "没事，穿过也能退，您直接寄回来。",
        )
    ask = rng.choice(
        [
            f"{title}不太喜欢，能退吗",
            "退货怎么操作？",
            f"订单{order['id']}想退货",
            "颜色跟图片不太一样，想退",
        ]
    )
    if late:
        good = (
            f"亲，您的订单是{signed}签收的，已经超过7天无理由退货期了；"
            "如果是开胶、断底等质量问题，签收30天内还可以给您退换。"
        )
        return ask, good, "超过7天了，质量问题也不管。"
    good = (
        f"可以的亲，您{signed}签收，还在7天无理由期内。请保持吊牌鞋盒完好，"
        f"在订单页申请退货，{_insurance(order)}，仓库收到后48小时内验货退款~"
    )
    return ask, good, "退货要扣20%手续费的哦。"


def return_goods(w: World, rng: random.Random, bad: bool) -> Draft | None:
    """退货: 7 天无理由 — except 定制款, worn items and late requests."""
    order = w.find_order(rng, lambda o: o["delivered_at"] is not None)
    if order is None:
        return None
    product, delivered = w.product_of(order), order["delivered_at"]
    start = w.when(rng, delivered + timedelta(hours=2), delivered + timedelta(days=10))
    ask, good, wrong = _return_case(rng, order, product, start > delivered + timedelta(days=7))
    answer = rng.choice([wrong, wrong, "规则都写着呢，自己看。"]) if bad else good
    tags = ["退货", "定制款"] if is_custom(product) else ["退货"]
    turns = [("shopper", ask), ("agent", answer)]
    return Draft(tags, turns, bad, start, order["shopper_id"], order["id"])


def _down_answer(product: dict[str, Any], rng: random.Random) -> tuple[str, str, str]:
    a, title = product["attributes"], product["title"]
    ask = rng.choice(["{t}充绒量多少？", "{t}保暖吗，北方冬天能穿吗", "{t}是鸭绒还是鹅绒"])
    good = (
        f"亲，{title}填充{a['填充物']}，充绒量{a['充绒量']}，面料{a['面料']}，"
        f"适合{'、'.join(a['适用场景'])}~"
    )
    wrong = (
        "充绒量300克，零下30度都没问题。" if "鸭" in a["填充物"] else "充绒量很足，穿着不冷就行。"
    )
    return ask.format(t=title), good, wrong


def _shoe_answer(product: dict[str, Any], rng: random.Random) -> tuple[str, str, str]:
    a, title = product["attributes"], product["title"]
    scenes, sole = "、".join(a["适用场景"]), a["鞋底材质"]
    kind = rng.choice(["water", "carbon", "sole", "scene"])
    if kind == "water":
        return (
            f"{title}防水吗",
            f"亲，这款鞋面是{a['鞋面材质']}，主打透气，不防水哦，"
            "下雨天尽量避开积水，湿了放阴凉处自然晾干~",
            "防水的亲，下雨随便穿。",
        )
    if kind == "carbon":
        has = "碳板" in sole
        good = (
            f"有的亲，{title}是{sole}，适合{scenes}。"
            if has
            else f"亲，{title}没有碳板，鞋底是{sole}，更适合{scenes}；想要碳板可以看看逐风 Pro 碳板竞速跑鞋~"
        )
        return f"{title}有碳板吗", good, ("没有碳板。" if has else "有的，全掌碳板。")
    if kind == "sole":
        return (
            f"{title}鞋底什么材质，耐磨吗",
            f"亲，鞋底是{sole}，鞋面{a['鞋面材质']}，内里{a['内里材质']}，日常{scenes}都没问题~",
            "纯橡胶的，穿三年都不坏。",
        )
    ok = "马拉松" in scenes or "半马" in scenes
    good = (
        f"可以的亲，{title}就是为{scenes}设计的。"
        if ok
        else f"亲，这款更适合{scenes}，跑全马建议看云跃轻量竞速跑鞋或逐风 Pro 碳板竞速跑鞋~"
    )
    return f"{title}适合跑马拉松吗", good, ("不太行。" if ok else "可以的，跑全马没问题。")


def material(w: World, rng: random.Random, bad: bool) -> Draft | None:
    """材质/场景咨询: answers come from the product's attributes; bad ones invent features."""
    product = rng.choice(
        w.products_where(lambda p: "鞋面材质" in p["attributes"] or "填充物" in p["attributes"])
    )
    make = _down_answer if "填充物" in product["attributes"] else _shoe_answer
    ask, good, wrong = make(product, rng)
    turns = [("shopper", ask), ("agent", wrong if bad else good)]
    return Draft(["商品咨询"], turns, bad, w.when(rng), w.random_shopper(rng)["id"], None)


_CUSTOM_QA = [
    (
        "定制款可以印中文吗？",
        "可以的亲，中英文、数字都能做，下单时在备注写好内容，客服确认效果图后再制作。",
        "只能印英文。",
    ),
    (
        "定制的多久能发货",
        "亲，客服确认效果图后开始制作，付款后5-7个工作日发货哦。",
        "3天就能发，放心。",
    ),
    (
        "定制球衣最少做几件",
        "一件起做哦；跑团定制T恤10件起享团购价，名字号码可以整理成表格发给我们。",
        "最少50件起做。",
    ),
    (
        "定制的做错了可以退吗",
        "如果是我们印错了（跟确认稿不一致）或者有质量问题，免费重做或退款；"
        "内容没问题只是不喜欢的话，定制款不支持7天无理由退换哦。",
        "定制款也支持7天无理由，放心拍。",
    ),
    ("刻字最多几个字", "鞋舌激光刻字支持中英文或数字，最多8个字符哦。", "想刻多少都行。"),
]


def custom_order(w: World, rng: random.Random, bad: bool) -> Draft | None:
    """定制咨询: custom items are made to order and not returnable without a defect."""
    product = rng.choice(w.products_where(is_custom))
    ask, good, wrong = rng.choice(_CUSTOM_QA)
    ask = f"{short_title(product['title'])}，{ask}" if rng.random() < 0.5 else ask
    turns = [("shopper", ask), ("agent", wrong if bad else good)]
    return Draft(["定制款"], turns, bad, w.when(rng), w.random_shopper(rng)["id"], None)


def recommend_running(w: World, rng: random.Random, bad: bool) -> Draft | None:
    """跑鞋推荐: size + budget -> the in-stock running shoes that fit."""
    size = rng.choice(["42", "42", "42", "41", "43", "40", "44"])
    budget = rng.choice([300, 300, 300, 250, 400, 500])
    ask = rng.choice(
        [
            "有没有{n}码的跑鞋，{b}元以内",
            "预算{b}左右，{n}码，推荐一双跑鞋",
            "想买双跑鞋日常慢跑，{n}码，{b}以内有吗",
        ]
    ).format(n=size, b=budget)
    hits = []
    for p in w.products_where(lambda p: p["category"] == "跑鞋" and not is_custom(p)):
        ok = [
            s
            for s in p["skus"]
            if s["options"]["尺码"] == size and s["stock"] > 0 and s["price_fen"] <= budget * 100
        ]
        if ok:
            colors = "、".join(s["options"]["颜色"] for s in ok)
            hits.append(
                f"{p['title']}（{yuan(ok[0]['price_fen'])}，{colors}有货，"
                f"{p['attributes']['尺码偏差']}）"
            )
    if hits:
        good = (
            f"亲，{size}码、{budget}元以内现在有货的跑鞋有："
            + "；".join(hits)
            + "。偏小半码的建议拍大一码哦~"
        )
    else:
        good = f"抱歉亲，{size}码{budget}元以内的跑鞋暂时都断码了，可以看看稍高一点预算的款式~"
    bads = ["没有了亲。", "推荐逐风 Pro 碳板竞速跑鞋，899，跑得快。", "都有货的，随便挑。"]
    turns = [("shopper", ask), ("agent", rng.choice(bads) if bad else good)]
    return Draft(["商品推荐", "尺码"], turns, bad, w.when(rng), w.random_shopper(rng)["id"], None)


TOPICS: list[tuple[Topic, int]] = [
    *COMMON_TOPICS,
    (shoe_size, 14),
    (apparel_size, 6),
    (exchange, 9),
    (return_goods, 10),
    (material, 7),
    (custom_order, 4),
    (recommend_running, 5),
]
