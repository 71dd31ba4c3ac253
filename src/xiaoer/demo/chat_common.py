"""Chat topics both shops share: 物流, 催发货, 退款进度, 发票, 优惠券, 地址修改, 投诉.

Shop-specific wording comes from `World.facts`. Each topic returns a Draft whose GOOD answers
follow the shop's policy and real order data, and whose BAD answers are wrong, rude, evasive
or made up.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from xiaoer.demo.chat_engine import Draft, World
from xiaoer.demo.common import yuan
from xiaoer.demo.people import address


def md(t: datetime) -> str:
    """11月18日 16:20"""
    return f"{t.month}月{t.day}日 {t:%H:%M}"


def short_title(title: str) -> str:
    """A shopper's way of naming a product: the first word or two."""
    return title.split(" ")[0] if " " in title else title[:6]


def latest(order: dict[str, Any], t: datetime) -> dict[str, Any]:
    """The newest logistics event visible at time t."""
    seen = [e for e in order["shipment"]["events"] if e["time"] <= t]
    return seen[-1] if seen else order["shipment"]["events"][0]


def _eta(event: dict[str, Any]) -> str:
    if event["status"] == "派送中":
        return "快递员已经在派送了，今天就能送到"
    if "正在安排派送" in event["detail"]:
        return "已经到您当地的网点了，预计今明两天送达"
    return "预计1-2天送达"


_TRACK_ASK = [
    "我买的{t}到哪了？",
    "订单{o}怎么还没到",
    "快递到哪儿了，帮我查一下",
    "{o} 物流一直不动是什么情况",
    "我的{s}发货好几天了还没收到",
    "请问我的快递大概什么时候能到？",
    "查下物流 订单号{o}",
]
_TRACK_FOLLOW = [
    ("能不能帮我催一下", "好的，已经帮您联系快递加急处理了，有进展第一时间通知您~"),
    ("那大概几点到", "派送时间以快递员安排为准，一般上午、下午各一班，派送前快递员会电话联系您。"),
    ("可以放驿站吗", "可以的，我给快递员留言放驿站，到了会有取件短信，记得及时取件哦。"),
    (
        "我明天不在家怎么办",
        "您可以跟派件员电话约时间，或让他放驿站、快递柜，我这边也帮您备注一下。",
    ),
]


def logistics(w: World, rng: random.Random, bad: bool) -> Draft | None:
    """物流查询: where is my parcel (incl. parcels stuck for more than 3 days)."""
    order = w.find_order(rng, lambda o: o["shipment"] and len(o["shipment"]["events"]) >= 3)
    if order is None:
        return None
    events = order["shipment"]["events"]
    end = order["delivered_at"] or w.anchor
    start = w.when(rng, events[1]["time"], end - timedelta(minutes=30))
    last = latest(order, start)
    stale = start - last["time"] > timedelta(days=3)
    title = order["lines"][0]["title"]
    ask = rng.choice(_TRACK_ASK).format(t=title, o=order["id"], s=short_title(title))
    ship = order["shipment"]
    if stale:
        good = (
            f"非常抱歉亲，查到包裹{md(last['time'])}「{last['detail']}」之后就没有更新了，已经超过3天。"
            f"我马上给{ship['carrier']}提交催查工单，24小时内给您答复；如果确认丢件，给您重新补发或全额退款。"
        )
    else:
        good = (
            f"亲，帮您查到了：{ship['carrier']} {ship['tracking_no']}，最新进度是{md(last['time'])}"
            f"「{last['detail']}」，{_eta(last)}，请保持电话畅通哦~"
        )
    bads = [
        "物流信息订单里都有，您自己看一下就行。",
        "快递的事我们也管不了，您再等等吧。",
        "明天肯定到的亲，放心。",
        "这个不清楚呢，系统查不到。",
    ]
    turns = [("shopper", ask), ("agent", rng.choice(bads) if bad else good)]
    if not bad and rng.random() < 0.6:
        q, a = rng.choice(_TRACK_FOLLOW)
        turns += [("shopper", q), ("agent", a)]
    tags = ["物流查询", "物流异常"] if stale else ["物流查询"]
    return Draft(tags, turns, bad, start, order["shopper_id"], order["id"])


_URGE_ASK = [
    "怎么还没发货？",
    "拍了好久了还不发货",
    "能不能今天发出，急用",
    "订单{o}什么时候发货",
    "{s}付款了一直没发，是没货吗",
    "周末要用，能加急发吗",
    "什么时候发货啊亲",
]


def urge_shipping(w: World, rng: random.Random, bad: bool) -> Draft | None:
    """催发货: paid but not shipped yet at chat time."""
    order = w.find_order(
        rng,
        lambda o: (
            o["paid_at"] is not None
            and (
                o["shipped_at"] is not None
                and o["shipped_at"] - o["paid_at"] > timedelta(hours=8)
                or o["status"] == "待发货"
            )
        ),
    )
    if order is None:
        return None
    deadline = order["paid_at"] + timedelta(hours=w.facts["dispatch_hours"](order))
    end = order["shipped_at"] or w.anchor
    start = w.when(rng, order["paid_at"] + timedelta(hours=4), end - timedelta(minutes=50))
    if start < order["paid_at"]:
        return None
    title = order["lines"][0]["title"]
    ask = rng.choice(_URGE_ASK).format(o=order["id"], s=short_title(title))
    soon = order["shipped_at"] is not None and order["shipped_at"] - start < timedelta(hours=12)
    day = "今天" if soon and order["shipped_at"].date() == start.date() else "明天"
    plan = f"预计{day}就能发出" if soon else f"最晚{md(deadline)}前一定发出"
    good = (
        f"亲，您的订单是{md(order['paid_at'])}付款的，我们承诺付款后"
        f"{w.facts['dispatch_hours'](order)}小时内发货，仓库正在按顺序打包，"
        f"{plan}，发出后物流单号会同步到订单里~"
    )
    bads = [
        "仓库排单呢，等着吧。",
        "已经发出了亲，您明天就能收到。",
        "不清楚，仓库那边的事我们也不知道。",
        "今天一定发，百分之百。",
    ]
    turns = [("shopper", ask), ("agent", rng.choice(bads) if bad else good)]
    if not bad and rng.random() < 0.5:
        turns += [("shopper", "能发顺丰吗"), ("agent", w.facts["carrier_answer"](order))]
    return Draft(["催发货"], turns, bad, start, order["shopper_id"], order["id"])


def _arrival(method: str) -> str:
    return {
        "支付宝": "支付宝一般即时到账",
        "微信支付": "微信一般即时到账",
        "花呗": "花呗额度已经恢复",
        "信用卡": "信用卡1-3个工作日到账",
    }.get(method, "1-7个工作日到账")


_REFUND_ASK = [
    "我取消订单了，钱什么时候退？",
    "订单{o}退款到哪一步了",
    "退款怎么还没到账？",
    "取消了为啥还没退钱",
    "退货寄回去好几天了，怎么还没退款",
]


_REFUND_BAD = [
    "系统在处理，等着就行。",
    "退款要15个工作日，急也没用。",
    "钱肯定退了，您自己查。",
    "这个我不清楚，您问问支付宝吧。",
]


def refund_progress(w: World, rng: random.Random, bad: bool) -> Draft | None:
    """退款进度: a paid order that was cancelled, or a return on its way back."""
    order = w.find_order(
        rng,
        lambda o: (
            o["status"] == "已取消"
            and o["paid_at"] is not None
            or "refund_fen" in o["extras"].get("after_sale", {})
            and "return_shipment" in o["extras"]["after_sale"]
        ),
    )
    if order is None:
        return None
    after = order["extras"].get("after_sale")
    if after:
        start = w.when(rng, after["applied_at"] + timedelta(days=1), w.anchor)
        ask = _REFUND_ASK[4]
        good = (
            f"亲，查到您的退货 {after['return_shipment']['carrier']} "
            f"{after['return_shipment']['tracking_no']}，仓库签收后48小时内验货，验货通过就原路退款"
            f"{yuan(after['refund_fen'])}，我这边帮您备注加急验货。"
        )
    else:
        start = w.when(
            rng,
            order["cancelled_at"] + timedelta(hours=1),
            order["cancelled_at"] + timedelta(days=3),
        )
        ask = rng.choice(_REFUND_ASK[:4]).format(o=order["id"])
        good = (
            f"亲，您的订单{order['id']}已于{md(order['cancelled_at'])}取消，"
            f"{yuan(order['pay_fen'])}已原路退回您的{order['payment_method']}，"
            f"{_arrival(order['payment_method'])}，请查看一下账单哦~"
        )
    turns = [("shopper", ask), ("agent", rng.choice(_REFUND_BAD) if bad else good)]
    return Draft(["退款进度"], turns, bad, start, order["shopper_id"], order["id"])


def invoice(w: World, rng: random.Random, bad: bool) -> Draft | None:
    """发票: how to get an invoice, company titles, 专票, timing."""
    order = w.find_order(rng, lambda o: o["status"] in ("已完成", "已签收"))
    if order is None:
        return None
    start = w.when(rng, order["delivered_at"], order["completed_at"] or w.anchor)
    kind = rng.choice(list(w.facts["invoice"]))
    ask, good = w.facts["invoice"][kind]
    bads = [
        "我们不开发票的亲。",
        "开发票要加6个点的税。",
        "发票您自己在网上开就行。",
        "要发票的话得等一个月。",
    ]
    turns = [("shopper", ask.format(o=order["id"])), ("agent", rng.choice(bads) if bad else good)]
    if not bad and kind == "company" and rng.random() < 0.6:
        turns += [
            ("shopper", "抬头：杭州星辰网络科技有限公司，税号91330106MA2B3C4D5E"),
            ("agent", "收到，已按这个抬头和税号给您提交开票，开好后会发到订单详情和您的邮箱~"),
        ]
    return Draft(["发票"], turns, bad, start, order["shopper_id"], order["id"])


def coupon(w: World, rng: random.Random, bad: bool) -> Draft | None:
    """优惠券: which coupons exist and how they stack."""
    product = rng.choice(w.products)
    kind = rng.choice(list(w.facts["coupon"]))
    ask, good = w.facts["coupon"][kind]
    bads = [
        "可以叠加三张的亲，随便用。",
        "没有优惠，爱买不买。",
        "活动的事我不清楚。",
        "明天全场五折，您等明天再买。",
    ]
    turns = [
        ("shopper", ask.format(t=product["title"])),
        ("agent", rng.choice(bads) if bad else good),
    ]
    shopper = w.random_shopper(rng)
    return Draft(["优惠券"], turns, bad, w.when(rng), shopper["id"], None)


_ADDR_ASK = [
    "地址写错了，能改吗？订单{o}",
    "我要改一下收货地址",
    "能帮我改成{c}的地址吗，订单{o}",
    "收件人电话填错了，能改吗",
    "搬家了，地址要换一下",
]


def change_address(w: World, rng: random.Random, bad: bool) -> Draft | None:
    """地址修改: before shipping the agent edits it; after shipping only a re-route is possible."""
    order = w.find_order(rng, lambda o: o["paid_at"] is not None and o["status"] != "已取消")
    if order is None:
        return None
    shipped = order["shipped_at"] is not None and rng.random() < 0.4
    lo, hi = (
        (order["shipped_at"], order["delivered_at"] or w.anchor)
        if shipped
        else (order["paid_at"], order["shipped_at"] or w.anchor)
    )
    start = w.when(rng, lo + timedelta(minutes=10), hi - timedelta(minutes=45))
    new = address(rng, order["address"]["name"], order["address"]["phone"])
    ask = rng.choice(_ADDR_ASK).format(o=order["id"], c=new["city"])
    line = f"{new['province']}{new['city']}{new['district']}{new['detail']}"
    if shipped:
        carrier = order["shipment"]["carrier"]
        good = (
            f"亲，订单已经在{md(order['shipped_at'])}发出了，系统里不能直接改地址。我帮您联系{carrier}"
            f"改派到新地址，改派费用以快递公司收取为准，您看可以吗？"
        )
        turns = [("shopper", ask), ("agent", "你自己跟快递说吧。" if bad else good)]
    else:
        good = "可以的亲，订单还没发货，麻烦把完整的新地址、收件人和电话发我一下。"
        turns = [("shopper", ask), ("agent", "下单了就改不了，您重新拍吧。" if bad else good)]
        if not bad:
            extra = w.facts.get("address_note", "")
            turns += [
                ("shopper", f"{line}，{new['name']} {new['phone']}"),
                (
                    "agent",
                    f"已经帮您修改为：{line}（{new['name']} {new['phone']}），请核对~{extra}",
                ),
            ]
    return Draft(["地址修改"], turns, bad, start, order["shopper_id"], order["id"])


_COMPLAINTS = [
    (
        "快递员不送上门，直接放驿站，我要投诉！",
        "非常抱歉给您带来不便！我已经向{c}反馈投诉，要求派件员按约定送货上门，并给您的订单做了备注，之后会优先送上门。",
    ),
    (
        "收到的盒子都压烂了，什么包装啊",
        "实在抱歉亲！麻烦拍一下外箱和商品的照片发我，商品没问题的我们给您适当补偿；商品有损坏的按质量问题给您退换。",
    ),
    (
        "你们昨天那个客服态度太差了",
        "非常抱歉让您有不好的体验，我已经把情况反馈给客服主管，会在24小时内给您回复处理结果，您现在的问题我来帮您跟进。",
    ),
    (
        "等了好几天了{t}还没到，你们怎么回事",
        "让您久等了，非常抱歉！我这边马上联系{c}核实，24小时内给您明确答复；确认丢件会为您补发或全额退款。",
    ),
]


def complaint(w: World, rng: random.Random, bad: bool) -> Draft | None:
    """投诉: apologise, then give a concrete remedy (bad agents deflect)."""
    order = w.find_order(rng, lambda o: o["delivered_at"] is not None)
    if order is None:
        return None
    start = w.when(
        rng, order["delivered_at"] - timedelta(hours=20), order["completed_at"] or w.anchor
    )
    ask, good = rng.choice(_COMPLAINTS)
    title, carrier = order["lines"][0]["title"], order["shipment"]["carrier"]
    bads = [
        "那你投诉吧。",
        "这不是我们的问题，是快递的问题。",
        "我也没办法，您找平台吧。",
        "我们客服都是这样的，您别激动。",
    ]
    turns = [
        ("shopper", ask.format(t=title)),
        ("agent", rng.choice(bads) if bad else good.format(c=carrier)),
    ]
    if not bad and rng.random() < 0.5:
        turns += [
            ("shopper", "那我等你们消息"),
            ("agent", "好的，处理结果会通过消息通知您，再次抱歉！"),
        ]
    return Draft(["投诉"], turns, bad, start, order["shopper_id"], order["id"])


COMMON_TOPICS = [
    (logistics, 16),
    (urge_shipping, 9),
    (refund_progress, 7),
    (invoice, 6),
    (coupon, 5),
    (change_address, 6),
    (complaint, 5),
]
