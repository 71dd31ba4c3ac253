"""What the shopper's message means, read once by the model into a typed object.

The model understands; code decides (DESIGN.md, "Understand, then decide"). One short call,
constrained to a JSON schema (the llama.cpp grammar on the embedded model, a forced tool call
on an endpoint), reads the message into `Understanding`; routing — handoff, the action desk,
which tools the turn offers, the reason kind the policy engine reads — uses that object and
not words in the raw text.

The schema is designed field by field against the labelled set (`evals/labelled/`,
`xiaoer eval understand`): labels in Chinese, the reason before the want, and a field asked
only when it applies (yes/no only while an action waits for the shopper's answer). Only the
values are enums; the order, product, options and reason stay in the shopper's own words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from xiaoer.domain.understanding import Answer, Understanding
from xiaoer.guard.input import check_input
from xiaoer.llm.base import LLM, ChatMessage, ToolSpec
from xiaoer.policy.rules import mentions
from xiaoer.policy.schema import QUALITY_WORDS


@dataclass(frozen=True, slots=True)
class Capability:
    code: str
    label: str
    """The value the model writes: short Chinese, as a shopper would say it (output tokens are
    the slow part on 2 cores: every forced token is still one decoding step)."""
    hint: str
    """What the label covers, shown once in the prompt's legend (cached prefix)."""
    tools: tuple[str, ...]
    """The tools a turn about this needs (besides knowledge and handoff, always offered)."""


CAPABILITIES: tuple[Capability, ...] = (
    Capability("order_status", "订单状态", "查自己订单的状态/详情", ("get_order", "list_my_orders")),
    Capability("logistics", "物流", "快递到哪了、什么时候到", ("track_logistics", "list_my_orders", "get_order")),
    Capability("urge", "催发货", "催商家快点发货", ("urge_shipment", "get_order", "list_my_orders")),
    Capability("product", "商品咨询", "问商品本身的参数、价格、材质、用法、对比，或推荐哪款", ("search_products", "get_product")),
    Capability("stock", "库存", "买之前问有没有货、哪个规格有货", ("search_products", "get_product")),
    Capability("size", "选规格", "买之前问自己该拍哪个尺码/规格/等级（拍多大、选哪个合适）", ("recommend_size", "get_product", "search_products")),
    Capability("coupon", "优惠券", "问或要优惠券、优惠活动", ("list_coupons", "apply_coupon")),
    Capability("subsidy", "国补", "国补、以旧换新或店铺的补贴活动", ("check_subsidy", "search_products", "get_product")),
    Capability("cancel", "取消订单", "不要这单了（还没发货）", ("cancel_order", "offer_retention", "list_my_orders", "get_order")),
    Capability("address", "改地址", "改收货地址", ("change_address", "list_my_orders", "get_order")),
    Capability("refund", "退款", "要退钱：没发货的单退款，或不寄回商品只退钱", ("request_refund", "offer_retention", "list_my_orders", "get_order")),
    Capability("return", "退货", "把收到的商品退回并退款", ("request_return", "offer_retention", "list_my_orders", "get_order")),
    Capability("exchange", "换货", "已买到的商品要换别的尺码/颜色，或坏了换新", ("request_exchange", "get_product", "list_my_orders", "get_order")),
    Capability("price_protection", "价保", "买后降价，要退差价", ("price_protection", "list_my_orders", "get_order")),
    Capability("invoice", "发票", "开发票、改发票", ("request_invoice", "list_my_orders", "get_order")),
    Capability("installation", "安装", "预约或改约上门安装", ("schedule_installation", "list_my_orders", "get_order")),
    Capability("shop_policy", "店铺规则", "问发货、运费、退换规则、保修、保存方法等一般规定", ()),
    Capability("complaint", "投诉", "投诉、抱怨服务或商品", ("list_my_orders", "get_order")),
    Capability("other", "其他", "打招呼、感谢、闲聊或别的", ()),
)  # fmt: skip
BY_CODE = {c.code: c for c in CAPABILITIES}

REASON_KINDS: dict[str, str] = {
    "none": "无",
    "defect": "质量问题",
    "missing_or_wrong": "少件发错",
    "not_fit": "不合适",
    "changed_mind": "不想要了",
    "price": "价格",
    "late": "物流慢",
    "other": "其他",
}
REASON_HINTS = {
    "无": "没说原因",
    "质量问题": "坏了、有瑕疵、不能用、收到就有问题",
    "少件发错": "少件、漏发、发错货",
    "不合适": "尺码或规格不合适",
    "不想要了": "不喜欢、买错、买多了、不需要了",
    "价格": "嫌贵、降价了、别家更便宜",
    "物流慢": "发货慢、物流慢、还没收到",
}
MOODS: dict[str, str] = {"calm": "平静", "upset": "不满", "angry": "愤怒"}
ANSWERS: dict[str, str] = {"yes": "同意", "no": "不办", "none": "没表态"}


SYSTEM = (
    "你是网店客服系统里的理解模块。读顾客最新的这条消息，调用 understand 写下它的意思；"
    "只写顾客自己说出的内容，没说的留空，不要回答顾客。"
)
_SHORT = {"type": "string", "maxLength": 24}


def legend(capabilities: tuple[Capability, ...], pending: bool) -> str:
    """What each value means: in the system prompt (a cached prefix), so the values the model
    writes can stay short."""
    lines = [
        "事：" + "；".join(f"{c.label}={c.hint}" for c in capabilities),
        "办理：顾客要为自己买的商品或订单办这件事填是（帮我取消、这单退了、小了能换大一号吗）；"
        "只问店铺的一般规定填否（支持七天无理由吗、运费谁出、怎么开专票）",
        "原因：只有要取消、退款、退货、换货或投诉时才看原因，问问题、查询都填无。"
        + "；".join(f"{k}={v}" for k, v in REASON_HINTS.items()),
        "情绪：大多数消息是平静（礼貌、提问、感叹号都算平静）；不满=抱怨、指责；"
        "愤怒=要投诉、曝光、骂人",
        "人工：只有顾客要求换人工客服来接待才填是",
    ]
    if pending:
        lines.append("确认：顾客对等待确认的操作：同意=要办；不办=不要办了；没表态=没说办不办")
    return "\n".join(lines)


def _schema(capabilities: tuple[Capability, ...], pending: bool) -> dict[str, object]:
    """What the model fills in, in the order it writes it — enums only (every output token is a
    decoding step; the shopper's own words stay in the message the main step reads), and
    yes/no only while an action waits for the shopper's answer."""
    props: dict[str, object] = {
        "事": {"enum": [c.label for c in capabilities]},
        "办理": {"enum": ["否", "是"]},
        "原因": {"enum": list(REASON_KINDS.values())},
        "情绪": {"enum": list(MOODS.values())},
        "人工": {"enum": ["否", "是"]},
    }
    if pending:
        props["确认"] = {"enum": list(ANSWERS.values())}
    return {"type": "object", "properties": props, "required": list(props)}


def spec(capabilities: tuple[Capability, ...], pending: bool) -> ToolSpec:
    return ToolSpec("understand", "写下顾客这条消息的意思。", _schema(capabilities, pending))


def prompt(
    text: str,
    capabilities: tuple[Capability, ...] = CAPABILITIES,
    *,
    before: str = "",
    pending: str = "",
) -> list[ChatMessage]:
    lines = []
    if before:
        lines.append(f"客服上一句：{before[:160]}")
    if pending:
        lines.append(f"等待顾客确认的操作：{pending[:120]}")
    lines.append(f"顾客：{text}")
    system = f"{SYSTEM}\n{legend(capabilities, bool(pending))}"
    return [ChatMessage("system", system), ChatMessage("user", "\n".join(lines))]


def read(arguments: dict[str, object], capabilities: tuple[Capability, ...]) -> Understanding:
    """The model's filled-in form as codes (a value outside the lists reads as its default)."""

    def code(table: dict[str, str], value: object, default: str) -> str:
        return next((k for k, v in table.items() if v == value), default)

    def text(key: str) -> str:
        value = arguments.get(key)
        return value.strip() if isinstance(value, str) else ""

    wants = {c.code: c.label for c in capabilities}
    return Understanding.model_validate(
        {
            "want": code(wants, arguments.get("事"), "other"),
            "acts": arguments.get("办理") == "是",
            "order": text("订单"),
            "product": text("商品"),
            "options": text("规格"),
            "reason": text("原话"),
            "reason_kind": code(REASON_KINDS, arguments.get("原因"), "none"),
            "asks_human": arguments.get("人工") == "是",
            "mood": code(MOODS, arguments.get("情绪"), "calm"),
            "mood_words": text("情绪词"),
            "answer": code(ANSWERS, arguments.get("确认"), "none"),
        }
    )


@dataclass(frozen=True, slots=True)
class Reading:
    understood: Understanding
    tokens_in: int = 0
    tokens_out: int = 0
    cached_tokens: int = 0
    ok: bool = True
    """False when the model's output could not be read (the defaults stand in)."""
    raw: Understanding | None = None
    """The model's own reading, when a cascade combined it with the keyword checks."""


async def understand(
    llm: LLM,
    text: str,
    *,
    capabilities: tuple[Capability, ...] = CAPABILITIES,
    before: str = "",
    pending: str = "",
    max_tokens: int = 160,
) -> Reading:
    """One constrained call: the message as an `Understanding`."""
    tool = spec(capabilities, bool(pending))
    done = await llm.complete(
        prompt(text, capabilities, before=before, pending=pending),
        [tool],
        mode="call",
        max_tokens=max_tokens,
    )
    call = next((c for c in done.tool_calls if c.name == tool.name), None)
    counts = {"tokens_in": done.tokens_in, "tokens_out": done.tokens_out,
              "cached_tokens": done.cached_tokens}  # fmt: skip
    if call is None:
        return Reading(Understanding(), ok=False, **counts)
    return Reading(read(call.arguments, capabilities), **counts)


class Reader(Protocol):
    """Reads a shopper message into an `Understanding`."""

    name: str

    async def read(
        self, text: str, *, before: str = "", pending: str = "",
        capabilities: tuple[Capability, ...] = CAPABILITIES,
    ) -> Reading: ...  # fmt: skip


class ModelReader:
    """The model reads the message (one constrained call)."""

    name = "model"

    def __init__(self, llm: LLM) -> None:
        self.llm = llm

    async def read(
        self, text: str, *, before: str = "", pending: str = "",
        capabilities: tuple[Capability, ...] = CAPABILITIES,
    ) -> Reading:  # fmt: skip
        return await understand(
            self.llm, text, capabilities=capabilities, before=before, pending=pending
        )


class KeywordReader:
    """Today's keyword checks, as a reader: the baseline the model reader is measured against,
    and the reader of a scripted assistant in unit tests. It cannot tell what the shopper wants
    (`want` stays "other") and knows a fault only by the policy's default quality words."""

    name = "keywords"

    def __init__(self, quality_words: Sequence[str] = QUALITY_WORDS) -> None:
        self.quality_words = list(quality_words)

    async def read(
        self, text: str, *, before: str = "", pending: str = "",
        capabilities: tuple[Capability, ...] = CAPABILITIES,
    ) -> Reading:  # fmt: skip
        from xiaoer.agent.actions import is_no, is_yes

        check = check_input(text)
        answer: Answer = "none"
        if pending:
            answer = "yes" if is_yes(text) else "no" if is_no(text) else "none"
        fault = mentions([text], self.quality_words) is not None
        return Reading(
            Understanding(
                reason_kind="defect" if fault else "none",
                asks_human=check.asks_human,
                mood=check.mood,
                answer=answer,
            )
        )


MOOD_RANK = {"calm": 0, "upset": 1, "angry": 2}


class CascadeReader:
    """The model's reading, with each field decided the way that measured best on the labelled
    set's dev split (`xiaoer eval understand`, numbers in docs/understanding.md):

    - what they want and the reason's kind: the model (the keyword checks cannot read a want,
      and read a fault from words like 质量 in "质量挺好，就是颜色不喜欢");
    - asks for a person, and mood: the keyword checks as a cheap pre-filter, the model as the
      decision that may only lower what they flagged — a message the checks pass over is calm
      and asks for nobody; one they flag ("烟雾报警器", "垃圾桶", "真人试穿") is at most what
      the model reads it as (the model alone called one calm question in three upset, and
      "这个多少钱！！" angry);
    - yes or no to the waiting action: the strict keyword yes/no (the confirmation word the
      question asked for) first, the model for anything else.
    """

    name = "cascade"

    def __init__(self, model: Reader, keywords: KeywordReader | None = None) -> None:
        self.model = model
        self.keywords = keywords or KeywordReader()

    async def read(
        self, text: str, *, before: str = "", pending: str = "",
        capabilities: tuple[Capability, ...] = CAPABILITIES,
    ) -> Reading:  # fmt: skip
        kw = (await self.keywords.read(text, pending=pending)).understood
        reading = await self.model.read(
            text, before=before, pending=pending, capabilities=capabilities
        )
        m = reading.understood
        combined = m.model_copy(
            update={
                "asks_human": kw.asks_human and m.asks_human,
                "mood": min(kw.mood, m.mood, key=MOOD_RANK.__getitem__),
                "answer": kw.answer if kw.answer != "none" else m.answer,
            }
        )
        return Reading(combined, reading.tokens_in, reading.tokens_out, reading.cached_tokens,
                       reading.ok, raw=m)  # fmt: skip


ALWAYS = ("get_order", "list_my_orders", "track_logistics", "search_products", "get_product",
          "search_knowledge", "handoff")  # fmt: skip
"""Offered on every turn (lookups, knowledge, a person), first, so that every tool subset shares
the longest prompt prefix (the KV cache reuses it)."""
FAMILIES: tuple[frozenset[str], ...] = (
    frozenset({"order_status", "logistics", "urge"}),
    frozenset({"cancel", "address", "refund", "return", "exchange", "price_protection",
               "complaint", "invoice", "installation"}),
    frozenset({"product", "stock", "size", "subsidy", "coupon"}),
)  # fmt: skip
"""Wants the reading confuses with each other (measured on the labelled set): a turn is
offered the tools of the whole family of what it read, not just of the one want."""


def offered(available: Sequence[str], understood: Understanding | None) -> list[str]:
    """The tools a turn offers the model, by what the message was understood to want: the
    lookups always, and the tools of the want's family — plus the after-sales family when a
    reason was given (a reason is a request's). Nothing read, or `other`: every tool.

    Fewer tool schemas make a shorter prompt and fewer wrong calls (DESIGN §4)."""
    if understood is None or understood.want == "other":
        return list(available)
    wants = set().union(*(f for f in FAMILIES if understood.want in f)) or {understood.want}
    if understood.reason_kind != "none":
        wants |= FAMILIES[1]
    names = {t for c in CAPABILITIES if c.code in wants for t in c.tools}
    first = [n for n in ALWAYS if n in available]
    return first + [n for n in available if n in names and n not in first]


def tool_sets(available: Sequence[str]) -> list[list[str]]:
    """Every tool set `offered` can give, the whole set first: the prompt prefixes a shop's
    turns start with, for the model's cache to hold before the first turn needs them."""
    sets = [list(available)]
    for capability in CAPABILITIES:
        for kind in ("none", "other"):
            names = offered(available, Understanding(want=capability.code, reason_kind=kind))
            if names not in sets:
                sets.append(names)
    return sets
