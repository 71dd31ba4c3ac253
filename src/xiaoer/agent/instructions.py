"""Prompts as data. The system prompt is the stable prefix of every call for a shop.

Keep it short (the embedded model reads about 100 prompt tokens per second on 2 cores) and
free of example ids (a 1.5B model copies them into real calls). Per-turn facts reach the model
through tool results (the time, for example, in `track_logistics`), not through the prompt.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from xiaoer.domain.models import Shop
from xiaoer.guard.claims import DONE
from xiaoer.knowledge.text import CJK
from xiaoer.policy.schema import ShopPolicy
from xiaoer.tools.knowledge import UNSURE
from xiaoer.tools.orders import ORDER_ID

SYSTEM_RULES = (
    "查订单、物流、商品时必须调用函数，只根据函数结果回答；没查到就如实说，不编造。"
    "只能查当前顾客自己的订单。"
)
SYSTEM = "你是「{shop_name}」的在线客服。{persona}\n" + SYSTEM_RULES
"""Measured on the embedded model (6 probe questions): this short form called the right tool with
the right arguments where a longer rule list made the model narrate ("我正在查询…") instead of
calling, and a per-turn context message (time, recent orders) made it invent arguments."""

PERSONA_CHARS = 60

ANSWER_NOTE = "顾客的问题：{question}\n请根据查询结果，用一两句话回答顾客{hint}。"
"""Appended after tool results when code decides the model should now answer. Measured: without
it the model repeated the lookup (or wrote half a sentence) instead of answering; the tool's
`answer_hint` ("，说出商品名称和价格") made it keep the prices it otherwise dropped. Tried instead
of 用一两句话, for two-part questions answered by halves: 简短地回答顾客问到的每一点 — the tuned
suite fell from 82 to 72 of 92, replies pasting whole product and SKU lists."""

SEVERAL_ORDERS = "；查了几个订单就分开说，每个订单先说订单号"
"""Added to the answer note when a turn looked up more than one order. Seen in the README
demo: two parcels tracked, answered "您的快递到…营业点。您的快递到…中转场。" — which is which?"""

STALLING = re.compile(r"(正在|马上|这就|稍等|请稍|稍后)|(帮您|为您|给您)(查|看|找)|查询一下|查一下")
"""A reply that only promises a lookup. Measured: the model sometimes writes "好的，我正在查询…"
instead of calling the tool."""

UNBACKED_NEGATIVE = re.compile(r"无法(找到|提供|查询|查到)|找不到|没有找到|查不到|没有查到|暂无")
"""A "not found / cannot" claim. Measured: later in a conversation the model often answers
"抱歉，我无法找到…" without looking anything up; a negative claim needs a lookup as much as a
positive one does."""


GIVES_UP = re.compile(
    r"无法(?:为您)?(?:提供|回答|给出|告知)"
    r"|(?:建议|请|可以)您?(?:直接|尽快)?(?:联系|咨询)(?:店铺|商家|我们的|在线|人工)?客服"
)
"""A reply that declines to answer, or sends the shopper to "customer service" (which is what
this is). Measured on the embedded model: with the shop's entry on the question shown, it still
sometimes wrote "抱歉，我无法提供具体的…，建议您联系店铺客服"."""

PRESS_NOTE = (
    "顾客的问题：{question}\n上面的店铺资料里有和这个问题有关的内容。请直接根据资料回答顾客，"
    "不要说无法提供，也不要让顾客去联系客服；资料确实没写的，就说资料没写这一点。"
)
"""Asked once after a reply that gave up with the shop's material shown (`GIVES_UP`)."""


def gives_up(reply: str, shop_says: str) -> bool:
    """Whether `reply` declines to answer in words that are not the shop's own (an entry may
    itself say "请联系客服…")."""
    m = GIVES_UP.search(reply)
    return m is not None and m.group(0) not in shop_says


UNBACKED_DONE = DONE
"""A "done" claim. Measured in the demo: asked "SO… 帮我取消，不想要了", the model replied
"好的，您已经取消了订单 SO…" without calling anything, and to a later "确认" (nothing pending)
"好的，确认取消订单 SO…"; only the action desk can say a change is done."""


def is_stalling(reply: str, *, searched: bool = False) -> bool:
    """Whether a reply written without any lookup only promises one or denies without one.
    After a knowledge search (`searched`) a "not found" is backed by it; a promise is not."""
    short = len(reply) <= 60
    denies = not searched and UNBACKED_NEGATIVE.search(reply) is not None
    return short and (STALLING.search(reply) is not None or denies)


def claims_done(reply: str) -> bool:
    """Whether a short reply says a change was made ("已为您取消…")."""
    return len(reply) <= 60 and UNBACKED_DONE.search(reply) is not None


ABOUT_MY_ORDER = re.compile(
    r"我.{0,4}(买|下单|拍|订)(的|了|过)|我的(订单|快递|包裹|货|单|退款)|订单号|到哪|还没(到|发|收|退)|怎么还没|咋还没"
    r"|一直(没|不)|没(收到|到账)|到账|催|进度"
)
"""A message about the shopper's own order ("我买的…到哪了", "退款咋还没到账"): answered from
their order, not from the shop's general knowledge. Read off the demo's past chats: it marks
38 of 71 and 52 of 87 order-specific questions, and 13 of 217 and 7 of 192 others (before
"我…买了/买过" joined "我…买的": "我最近买了什么？" is about their orders as well)."""

CHANGE_REQUEST = re.compile(
    r"(帮我|给我|我要|我想|想要|麻烦|申请).{0,10}(取消|退款|退货|退掉|换成|换货|换个|换一|改地址|修改|改成)"
)
"""A request for a change ("帮我取消掉", "我要退货"): a job for the after-sales tools, not a
question for the knowledge base (measured: snippets about the product distracted the model)."""


ASKS_ORDER = re.compile(r"(提供|告诉|发|给).{0,6}订单号|订单号是多少|哪(一|个)(个|笔|单)?订单")


def about_own_order(text: str) -> bool:
    """A message naming an order, or about the shopper's own order (`ABOUT_MY_ORDER`)."""
    return ORDER_ID.search(text) is not None or ABOUT_MY_ORDER.search(text) is not None


CHANGE_VERB = re.compile(r"取消|退款|退货|换货|换成|换码|改地址|修改地址")
"""After-sales requests. Measured (after-sales suite, 25 scenarios): given "SO… 感觉买贵了，想取消"
the model replied "请提供订单号" or "您想取消吗？" without any call in 3 of the 13 failures."""


def asks_again(reply: str, said: list[str]) -> bool:
    """Whether a reply written without any lookup asks for what the shopper already gave: an
    order number they wrote, or the change they already asked for ("您想取消吗？")."""
    if len(reply) > 80:
        return False
    if ASKS_ORDER.search(reply) and any(ORDER_ID.search(t) for t in said):
        return True
    question = reply.rstrip().endswith(("？", "?", "吗"))
    verbs = {m.group(0) for t in said for m in CHANGE_VERB.finditer(t)}
    return question and any(v in reply for v in verbs)


FALLBACK_NO_REPLY = (
    "抱歉，我刚才没有处理好您的问题。您可以换个说法再问一次，或者回复“转人工”联系人工客服。"
)
FALLBACK_WITH_RESULT = "为您查到以下信息：\n{result}"

GUARD_RETRY = (
    "（系统检查，顾客看不到）上面这条回复不能发给顾客：{reason}。请重写给顾客的回复："
    "只说查询结果和店铺资料里有的内容；资料里没有的，就对顾客说「" + UNSURE + "」。"
)
"""The one regeneration the output guard allows, with its reason."""
GUARD_RETRY_SECRETS = tuple(
    piece for part in GUARD_RETRY.split("{reason}") for piece in part.split(UNSURE)
)
"""Its instruction text, which a reply must not repeat; the sample answer it quotes may be."""
GUARD_GIVE_UP = "这个问题我需要请同事核实一下，免得给您说错。"
"""What the shopper hears when neither the reply, its rewrite nor the knowledge base will do;
the handoff notice follows it."""
GUARD_UNKNOWN = "店铺资料里没有关于「{what}」的说明，我请同事核实一下再答复您，免得说错。"
"""The give-up when the reply named something the shop's material never mentions."""
GUARD_GIVE_UP_EN = "I need to check this with a colleague, so that I don't tell you anything wrong."
GUARD_UNKNOWN_EN = (
    "Our shop's information says nothing about {what}, so I'm asking a colleague to check "
    "rather than guess."
)
"""The same two for a shopper who writes in English."""


def english(text: str) -> bool:
    """Whether the shopper writes in English: Latin words and no Chinese characters."""
    return not CJK.search(text) and len(re.findall(r"[A-Za-z]{2,}", text)) >= 2


WHISPER = "\n店家给你的指示（顾客看不到，照做，但不要对顾客提起）：{}"


def system_prompt(shop: Shop) -> str:
    persona = shop.persona.strip().split("\n")[0][:PERSONA_CHARS] or "说话亲切、专业。"
    return SYSTEM.format(shop_name=shop.name, persona=persona)


GUIDANCE = "\n店铺建议（合适时自然地提一句）：{}"
GUIDANCE_ITEMS = 2


QUESTION_LABEL = ANSWER_NOTE.split("{")[0]
GUIDANCE_LABEL = re.compile(GUIDANCE.strip().split("（")[0] + r"(（[^）\n]*）)?[：:]")


def unecho(reply: str, note: str) -> str:
    """The reply without what it copied of the note that asked for it: the lines of the note
    itself and a line quoting the question under the note's label; of the shop's guidance only
    the label goes (its words are the merchant's, for saying). Seen in the demo on the embedded
    model: "顾客的问题：我订单 SO… 用券了吗？实付多少？\n根据查询结果，…。店铺建议：新客首单…"."""
    copied = {line.strip() for line in note.split("\n") if line.strip()}
    kept = [
        line
        for line in reply.split("\n")
        if line.strip() not in copied and not line.strip().startswith(QUESTION_LABEL)
    ]
    return GUIDANCE_LABEL.sub("", "\n".join(kept)).strip()


def presale_guidance(policy: ShopPolicy, question: str) -> str:
    """The merchant's pre-sales guidance that matches this question, for the answer note.

    It rides on the answer note (after a lookup) rather than the system prompt: the prefix stays
    byte-stable for the KV cache, and measured, per-turn context at the top of the prompt made
    the 1.5B model invent tool arguments."""
    picked = [p.say for p in policy.presales if p.when and any(w in question for w in p.when)]
    return GUIDANCE.format("；".join(picked[:GUIDANCE_ITEMS])) if picked else ""


@dataclass(frozen=True, slots=True)
class Voice:
    """The words the turn loop itself writes: the system prompt and the fallback replies.
    Chinese for the shops; English for English-speaking worlds such as τ-retail."""

    system: Callable[[Shop], str]
    no_reply: str
    with_result: str


CHINESE = Voice(system_prompt, FALLBACK_NO_REPLY, FALLBACK_WITH_RESULT)
