"""Prompts as data. The system prompt is the stable prefix of every call for a shop.

Keep it short (the embedded model reads about 100 prompt tokens per second on 2 cores) and
free of example ids (a 1.5B model copies them into real calls). Per-turn facts — the time,
the shopper, their recent orders — go into a second system message after the stable prefix.
"""

from __future__ import annotations

from datetime import datetime

from xiaoer.domain.models import Order, Shop, Shopper

SYSTEM = """你是「{shop_name}」的在线客服。{persona}

工作规则：
1. 订单、物流、商品、价格、库存只能依据函数返回的结果回答，不能编造。没查到就如实说。
2. 顾客问订单或物流，先调用函数查询；顾客没给订单号时，先用 list_my_orders。
3. 顾客找商品，调用 search_products；价格、库存照函数结果原样写出。
4. 只能查询当前顾客自己的订单。别人的订单一律礼貌拒绝。
5. 不确定的政策、承诺或赔偿，不要自己答应，告诉顾客会请人工客服确认。
6. 用简体中文回答（顾客用英文就用英文），礼貌、简洁，一般不超过 5 句话。"""

TURN_CONTEXT = """现在时间：{now}（{weekday}）
当前顾客：{shopper_name}（顾客编号 {shopper_id}{level}）
{orders}"""

_WEEKDAYS = "一二三四五六日"

FALLBACK_NO_REPLY = (
    "抱歉，我刚才没有处理好您的问题。您可以换个说法再问一次，或者回复“转人工”联系人工客服。"
)
FALLBACK_WITH_RESULT = "为您查到以下信息：\n{result}"


def system_prompt(shop: Shop) -> str:
    persona = shop.persona.strip() or "语气亲切、专业。"
    return SYSTEM.format(shop_name=shop.name, persona=persona)


def turn_context(shopper: Shopper, recent: list[Order], now: datetime) -> str:
    if recent:
        rows = [f"- {o.id} {o.status} {o.lines[0].title}" for o in recent]
        orders = "顾客最近的订单：\n" + "\n".join(rows)
    else:
        orders = "顾客暂无订单。"
    return TURN_CONTEXT.format(
        now=now.strftime("%Y-%m-%d %H:%M"),
        weekday="周" + _WEEKDAYS[now.weekday()],
        shopper_name=shopper.name,
        shopper_id=shopper.id,
        level=f"，{shopper.level}" if shopper.level else "",
        orders=orders,
    )
