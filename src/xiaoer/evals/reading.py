"""How the scorers read text: normalisation, product names from the records, sentences and
clauses, and the generic words a claim is made of (stock, order states, cue words).

Nothing here knows a shop: names come from the records passed in (see facts.py)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from xiaoer.domain.models import Product, Sku

# ---------- text normalisation ----------


def ascii_alnum(c: str) -> bool:
    return c.isascii() and c.isalnum()


def normalize(text: str) -> tuple[str, list[int]]:
    """NFKC, lowercase, whitespace dropped except one space between two ASCII letters/digits
    ('星河 X60 Pro' → '星河x60 pro', '疾风 3 42码' → '疾风3 42码'); commas inside numbers go
    ('1,299' → '1299'). Returns the text and, per character, its index in the original."""
    chars: list[str] = []
    index: list[int] = []
    pending_space = -1
    for i, raw in enumerate(text):
        if raw.isspace():
            pending_space = i if chars else -1
            continue
        for c in unicodedata.normalize("NFKC", raw).lower():
            if pending_space >= 0 and chars and ascii_alnum(chars[-1]) and ascii_alnum(c):
                chars.append(" ")
                index.append(pending_space)
            pending_space = -1
            chars.append(c)
            index.append(i)
    out = "".join(chars)
    # thousands separators: drop a comma between a digit and exactly three digits
    keep = [
        not (
            c == ","
            and 0 < k
            and out[k - 1].isdigit()
            and re.match(r"\d{3}(?!\d)", out[k + 1 : k + 5]) is not None
        )
        for k, c in enumerate(out)
    ]
    return "".join(c for c, k in zip(out, keep, strict=True) if k), [
        i for i, k in zip(index, keep, strict=True) if k
    ]


def fold(text: str) -> str:
    return normalize(text)[0]


def bounded(text: str, start: int, end: int) -> bool:
    """A match of ASCII letters/digits does not cut into a longer ASCII word or number."""
    if start > 0 and ascii_alnum(text[start - 1]) and ascii_alnum(text[start]):
        return False
    return not (end < len(text) and ascii_alnum(text[end - 1]) and ascii_alnum(text[end]))


# ---------- the catalog index ----------

CJK = re.compile(r"[\u4e00-\u9fff]")
UNIT = re.compile(r"(\d+(?:\.\d+)?)\+?\s?([a-z]+\d?|%|°c?|[\u4e00-\u9fff]{1,2})")
"""A number and its unit (5000mah, 220g; "650+g" reads as 650 g)."""


def tokens(title: str) -> list[str]:
    return [fold(t) for t in title.split() if fold(t)]


def join_tokens(tokens: Sequence[str]) -> str:
    out = ""
    for t in tokens:
        out += " " + t if out and ascii_alnum(out[-1]) and ascii_alnum(t[0]) else t
    return out


def model_token(token: str) -> bool:
    """A token that names a model (Pro, SE, 2, X60): ASCII only, no CJK."""
    return not CJK.search(token)


@dataclass
class _Alias:
    products: set[str] = field(default_factory=set)
    next_token: dict[str, str] = field(default_factory=dict)
    """Per product, the title token after the alias ('' at the end of the title)."""


class Catalog:
    """Products indexed by the names their titles give them."""

    def __init__(self, products: Iterable[Product]) -> None:
        self.products = {p.id: p for p in products}
        self._aliases: dict[str, _Alias] = {}
        brands = {fold(p.brand) for p in self.products.values() if p.brand}
        inner = {t for p in self.products.values() for t in tokens(p.title)[1:]}
        firsts: dict[str, int] = {}
        for p in self.products.values():
            toks = tokens(p.title)
            if toks:
                firsts[toks[0]] = firsts.get(toks[0], 0) + 1
        for p in self.products.values():
            toks = tokens(p.title)
            for n in range(1, len(toks) + 1):
                single = n == 1 and len(toks) > 1
                if single and (
                    firsts[toks[0]] > 1 or toks[0] in brands or toks[0] in inner
                    or len(toks[0]) < 2
                ):  # fmt: skip
                    continue
                self._add(join_tokens(toks[:n]), p.id, toks[n] if n < len(toks) else "")
            if toks and toks[0] in brands and len(toks) > 2:
                rest = toks[1:]  # the name without its brand: 'x60 pro', 'freebuds 5'
                for n in range(1, len(rest) + 1):
                    if n == 1 and not re.fullmatch(r"[a-z]+\d+[a-z]*", rest[0]):
                        continue
                    self._add(join_tokens(rest[:n]), p.id, rest[n] if n < len(rest) else "")
            self._add(fold(p.id), p.id, "")
            for s in p.skus:
                self._add(fold(s.id), p.id, "")
        self._by_first: dict[str, list[str]] = {}
        for alias in sorted(self._aliases, key=len, reverse=True):
            self._by_first.setdefault(alias[0], []).append(alias)
        self.sku_ids = {fold(s.id): s for p in self.products.values() for s in p.skus}
        self.rivals: dict[str, set[str]] = {}
        """Per product, the model words of products in its series that its own title lacks
        ('pro' for '星河 X60'): a clause with one of them is about another product."""
        for p in self.products.values():
            own = tokens(p.title)
            for q in self.products.values():
                theirs = tokens(q.title)
                if q.id != p.id and own and theirs and own[0] == theirs[0]:
                    self.rivals.setdefault(p.id, set()).update(
                        t for t in theirs if model_token(t) and len(t) >= 2 and t not in own
                    )

    def _add(self, alias: str, product_id: str, next_token: str) -> None:
        if len(alias) < 2:
            return
        entry = self._aliases.setdefault(alias, _Alias())
        entry.products.add(product_id)
        entry.next_token.setdefault(product_id, next_token)

    def mentions(self, text: str) -> list[tuple[int, int, tuple[str, ...], Sku | None]]:
        """Product mentions in normalised text: (start, end, candidate product ids, the SKU if
        the mention is a SKU id). Longest name first; a name that fits several products keeps
        those whose title goes on with words (not a model token the text leaves out)."""
        out: list[tuple[int, int, tuple[str, ...], Sku | None]] = []
        i = 0
        while i < len(text):
            hit = None
            for alias in self._by_first.get(text[i], ()):
                if text.startswith(alias, i) and bounded(text, i, i + len(alias)):
                    hit = alias
                    break
            if hit is None:
                i += 1
                continue
            end = i + len(hit)
            entry = self._aliases[hit]
            rest = text[end:].lstrip()
            kept = {
                pid
                for pid in entry.products
                if not (
                    entry.next_token[pid]
                    and model_token(entry.next_token[pid])
                    and not rest.startswith(entry.next_token[pid])
                )
            }
            if len(kept) > 1:  # '疾风 3 男款' → the title going on with 男…
                on = {pid for pid in kept if entry.next_token[pid][:1] and CJK.match(rest[:1])
                      and rest.startswith(entry.next_token[pid][:1])}  # fmt: skip
                kept = on or kept
            ids = tuple(sorted(kept or entry.products))
            out.append((i, end, ids, self.sku_ids.get(hit)))
            i = end
        return out


# ---------- claims ----------

NEG_STOCK = re.compile(
    r"(?:没有|没|无|暂无|缺)(?:现)?货|缺货|售罄|已?售完|卖完|断货|(?:没有|无|暂无|没)库存"
    r"|库存不足|out of stock|sold out|not in stock|unavailable"
)
ASK_STOCK = re.compile(
    r"有没有(?:现)?货|是否有(?:现)?货|有无(?:现)?货|有货没有?|有没有库存|是否有库存"
)
POS_STOCK = re.compile(
    r"有现货|有货|现货|有库存|库存充足|in stock|都有|(?<!没)有[的哦呢呀啊]?(?=[,，。.!！;；\s]*$)"
)
"""In stock — also "有" ending a clause ("42码有，…")."""
STOCK_SKIP_BEFORE = re.compile(r"(?:如果|如|若|是否|等|待|一旦|有没|看看|查询|确认|咨询)$")
STOCK_SKIP_AFTER = re.compile(r"^(?:吗|么|嘛|后|时|了再|的话|会通知|提醒|通知)")
OTHER = re.compile(r"其他|其它|别的|另外的|部分|个别|some|other")
COUNT = re.compile(r"(?:库存|剩余|仅剩|只剩|还剩|剩下)(?:数量)?(?:为|是|有|约)?:?(\d+)(?![\d.%])")
MONEY = re.compile(
    r"(?:¥|rmb|cny)\s?(\d+(?:\.\d{1,2})?)|(\d+(?:\.\d{1,2})?)\s?(?:元|块|yuan|rmb|cny)"
)
PRICE_SKIP_BEFORE = re.compile(
    r"(?:券|优惠|减|降|补贴|补差|国补|省|返|运费|邮费|实付|付款|支付|付了|退|赔|差价|满|定金|尾款|原价|"
    r"到手|活动|秒杀|折|共|合计|总|最高|最多|最低|最少|不超过|超过|低于|高于|每|分期|期|"
    r"加|多|少|便宜|贵|至|到|~|-|—|额度|金额)[^,]{0,4}$"
)
PRICE_SKIP_AFTER = re.compile(
    r"^(?:起|以上|以下|以内|左右|内|多|/|每|一|的?(?:优惠|券|补贴|红包|差价|运费|定金)|-|~|至|到)"
)
PRICE_CUE = re.compile(r"价|卖|这款|该款|此款|这个|这双|这件|它|price|cost")
ORDER_AMOUNT_CUE = re.compile(
    r"(?:实付|实际支付|实付款|支付了|付款金额|订单金额|订单总额|总价)[^,]{0,4}$"
)
QUESTION_END = re.compile(r"(?:吗|呢|么)$")

STATUS_WORDS = {
    "待付款": "待付款",
    "待发货": "待发货",
    "已发货": "已发货",
    "已签收": "已签收",
    "已完成": "已完成",
    "售后中": "售后中",
    "已取消": "已取消",
    "未发货": "!已发货",
    "没发货": "!已发货",
    "没有发货": "!已发货",
    "尚未发货": "!已发货",
    "还没发货": "!已发货",
    "未签收": "!已签收",
    "没签收": "!已签收",
    "尚未签收": "!已签收",
    "has been shipped": "已发货",
    "has shipped": "已发货",
    "was shipped": "已发货",
    "has been delivered": "已签收",
    "was delivered": "已签收",
    "has been cancelled": "已取消",
    "has been canceled": "已取消",
    "not yet shipped": "!已发货",
    "not been shipped": "!已发货",
    "hasn't shipped": "!已发货",
    "awaiting shipment": "待发货",
    "pending payment": "待付款",
}
STATUS = re.compile("|".join(re.escape(fold(w)) for w in sorted(STATUS_WORDS, key=len)[::-1]))
STATUS_SKIP_AFTER = re.compile(r"^(?:的(?:订单|商品|话)|后|时|前|之前|以后|吗|么|心)")
"""Attributive or conditional use: 已发货的订单可以…, 签收后…"""
STATUS_SKIP_BEFORE = re.compile(r"(?:如果|若|如|一旦|只有|仅|才|等|待到|是否|可能)[^,]{0,3}$")
STATUS_RULE = re.compile(
    r"只能在|只可在|仅限|才能|才可以|才可|状态下?(?:才|可以|可|能)?(?:办理|申请|操作|修改|取消)|"
    r"(?:可以|能)在[^,]{0,12}状态"
)
"""A clause that states which states allow something ("改地址只能在待付款、待发货状态办理") names
states as a rule, not as the order's state."""
STATUS_NORM = {fold(k): v for k, v in STATUS_WORDS.items()}
DATE = re.compile(r"(?:(20\d\d)[-/年.])?(\d{1,2})(?:月|-|/)(\d{1,2})(?:日|号)?(?!\d)")
EVENTS = (
    ("下单", "created_at"),
    ("付款", "paid_at"),
    ("支付", "paid_at"),
    ("发货", "shipped_at"),
    ("签收", "delivered_at"),
    ("取消", "cancelled_at"),
    ("完成", "completed_at"),
)
DATE_SKIP = re.compile(
    r"预计|预期|大约|约|左右|之前|以前|前|之后|以后|后|内|起|截止|截至|最晚|最迟|将|会"
)


def number(text: str) -> str:
    return text.rstrip("0").rstrip(".") if "." in text else text


def flat_attributes(attributes: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for k, v in attributes.items():
        if isinstance(v, dict):
            out.append((str(k), " ".join(f"{a} {b}" for a, b in v.items())))
        elif isinstance(v, list):
            out.append((str(k), " ".join(str(x) for x in v)))
        else:
            out.append((str(k), str(v)))
    return out


SENTENCE_END = re.compile(r"[。!?;\n]+")


def sentences(norm: str) -> list[tuple[int, int, bool]]:
    """(start, end, is a question) per sentence."""
    out: list[tuple[int, int, bool]] = []
    start = 0
    for m in SENTENCE_END.finditer(norm):
        out.append((start, m.start(), "?" in m.group(0)))
        start = m.end()
    if start < len(norm):
        out.append((start, len(norm), False))
    return out


def clauses(norm: str, start: int, end: int) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    a = start
    for k in range(start, end):
        if norm[k] == ",":
            out.append((a, k))
            a = k + 1
    out.append((a, end))
    return [(a, b) for a, b in out if b > a]


def clause_text(norm: str, start: int) -> str:
    m = re.compile(r"[,。!?;\n]").search(norm, start)
    return norm[start : m.start() if m else len(norm)]
