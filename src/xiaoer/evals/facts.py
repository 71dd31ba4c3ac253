"""Wrong facts: claims in a reply that the shop's own records contradict.

The scorer reads a reply the way a shopper would and checks what it asserts against the world
of the trial: the catalog (products, their SKUs, options, prices, stock, attributes) and the
orders the conversation touches, as they stood before and after the turn. It knows no shop's
vocabulary: products are recognised by their titles in the records, options by the records'
option values, attributes by the records' attribute names. Only generic words are built in —
Chinese and English words for stock (有货, 售罄, in stock…), the store's order states, and a
few cue words (价格, 实付, 优惠…).

What counts (each one fails the trial):
- stock: 有货/现货 (or 缺货/售罄) said of a product or option whose SKUs all have the opposite
  stock; a stock count (库存 12 件) that matches no candidate SKU's stock nor their sum;
- price: an amount attached to a product (named, or the one the shopper named) that is none of
  its SKU prices (of the options named, if any) nor a unit price it was ordered at;
- figure: a number with a unit after a product's attribute name (电池容量 5000mAh) when that
  attribute's value on record gives other numbers for that unit;
- status: an order state (or 未发货/未签收) said of an order id that the order's record
  contradicts, before and after the turn;
- date: a date next to 下单/付款/发货/签收/取消/完成 for an order whose record has another date;
- amount: an order's 实付/总价 that is neither its pay nor its total.

What deliberately does not count (precision first; documented in docs/scenarios.md):
- a claim whose product is ambiguous (a name that fits more than one product, e.g. a shared
  series name), or whose options fit no SKU; a product named by a word not in its title;
- questions (…吗, …？), conditionals (如果有货…), "other/some" (其他颜色有货), ranges and
  bounds (¥199 起, 最高 500 元), discounted or computed amounts (券后, 优惠, 补贴, 共, 差价…);
- figures with no unit, or whose unit the attribute's value does not use; numeric option
  values (a size 42) unless written as 42码/42号 or after the option's name;
- facts about anything not in the records (policy text, FAQ, documents): the ungrounded
  check and the scenario's must_not_say cover invented answers there.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from xiaoer.domain.models import Order, Product, Sku


@dataclass(frozen=True)
class WrongFact:
    kind: str
    """stock | stock_count | price | figure | status | date | amount"""
    claim: str
    """The reply's words (the clause the claim was read from)."""
    record: str
    """The record it contradicts."""
    turn: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "claim": self.claim, "record": self.record, "turn": self.turn}


# ---------- text normalisation ----------


def _ascii_alnum(c: str) -> bool:
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
            if pending_space >= 0 and chars and _ascii_alnum(chars[-1]) and _ascii_alnum(c):
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


def _norm(text: str) -> str:
    return normalize(text)[0]


def _bounded(text: str, start: int, end: int) -> bool:
    """A match of ASCII letters/digits does not cut into a longer ASCII word or number."""
    if start > 0 and _ascii_alnum(text[start - 1]) and _ascii_alnum(text[start]):
        return False
    return not (end < len(text) and _ascii_alnum(text[end - 1]) and _ascii_alnum(text[end]))


# ---------- the catalog index ----------

_CJK = re.compile(r"[\u4e00-\u9fff]")
_UNIT = re.compile(r"(\d+(?:\.\d+)?)\s?([a-z]+\d?|%|°c?|[\u4e00-\u9fff]{1,2})")


def _tokens(title: str) -> list[str]:
    return [_norm(t) for t in title.split() if _norm(t)]


def _join(tokens: Sequence[str]) -> str:
    out = ""
    for t in tokens:
        out += " " + t if out and _ascii_alnum(out[-1]) and _ascii_alnum(t[0]) else t
    return out


def _model_token(token: str) -> bool:
    """A token that names a model (Pro, SE, 2, X60): ASCII only, no CJK."""
    return not _CJK.search(token)


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
        brands = {_norm(p.brand) for p in self.products.values() if p.brand}
        inner = {t for p in self.products.values() for t in _tokens(p.title)[1:]}
        firsts: dict[str, int] = {}
        for p in self.products.values():
            toks = _tokens(p.title)
            if toks:
                firsts[toks[0]] = firsts.get(toks[0], 0) + 1
        for p in self.products.values():
            toks = _tokens(p.title)
            for n in range(1, len(toks) + 1):
                single = n == 1 and len(toks) > 1
                if single and (
                    firsts[toks[0]] > 1 or toks[0] in brands or toks[0] in inner
                    or len(toks[0]) < 2
                ):  # fmt: skip
                    continue
                self._add(_join(toks[:n]), p.id, toks[n] if n < len(toks) else "")
            if toks and toks[0] in brands and len(toks) > 2:
                rest = toks[1:]  # the name without its brand: 'x60 pro', 'freebuds 5'
                for n in range(1, len(rest) + 1):
                    if n == 1 and not re.fullmatch(r"[a-z]+\d+[a-z]*", rest[0]):
                        continue
                    self._add(_join(rest[:n]), p.id, rest[n] if n < len(rest) else "")
            self._add(_norm(p.id), p.id, "")
            for s in p.skus:
                self._add(_norm(s.id), p.id, "")
        self._by_first: dict[str, list[str]] = {}
        for alias in sorted(self._aliases, key=len, reverse=True):
            self._by_first.setdefault(alias[0], []).append(alias)
        self.sku_ids = {_norm(s.id): s for p in self.products.values() for s in p.skus}
        self.rivals: dict[str, set[str]] = {}
        """Per product, the model words of products in its series that its own title lacks
        ('pro' for '星河 X60'): a clause with one of them is about another product."""
        for p in self.products.values():
            own = _tokens(p.title)
            for q in self.products.values():
                theirs = _tokens(q.title)
                if q.id != p.id and own and theirs and own[0] == theirs[0]:
                    self.rivals.setdefault(p.id, set()).update(
                        t for t in theirs if _model_token(t) and len(t) >= 2 and t not in own
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
                if text.startswith(alias, i) and _bounded(text, i, i + len(alias)):
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
                    and _model_token(entry.next_token[pid])
                    and not rest.startswith(entry.next_token[pid])
                )
            }
            if len(kept) > 1:  # '疾风 3 男款' → the title going on with 男…
                on = {pid for pid in kept if entry.next_token[pid][:1] and _CJK.match(rest[:1])
                      and rest.startswith(entry.next_token[pid][:1])}  # fmt: skip
                kept = on or kept
            ids = tuple(sorted(kept or entry.products))
            out.append((i, end, ids, self.sku_ids.get(hit)))
            i = end
        return out


# ---------- claims ----------

_NEG_STOCK = re.compile(
    r"(?:没有|没|无|暂无|缺)(?:现)?货|缺货|售罄|已?售完|卖完|断货|(?:没有|无|暂无|没)库存"
    r"|库存不足|out of stock|sold out|not in stock|unavailable"
)
_ASK_STOCK = re.compile(
    r"有没有(?:现)?货|是否有(?:现)?货|有无(?:现)?货|有货没有?|有没有库存|是否有库存"
)
_POS_STOCK = re.compile(r"有现货|有货|现货|有库存|库存充足|in stock")
_STOCK_SKIP_BEFORE = re.compile(r"(?:如果|如|若|是否|等|待|一旦|有没|看看|查询|确认|咨询)$")
_STOCK_SKIP_AFTER = re.compile(r"^(?:吗|么|嘛|后|时|了再|的话|会通知|提醒|通知)")
_OTHER = re.compile(r"其他|其它|别的|另外的|部分|个别|some|other")
_COUNT = re.compile(r"(?:库存|剩余|仅剩|只剩|还剩|剩下)(?:数量)?(?:为|是|有|约)?:?(\d+)(?![\d.%])")
_MONEY = re.compile(
    r"(?:¥|rmb|cny)\s?(\d+(?:\.\d{1,2})?)|(\d+(?:\.\d{1,2})?)\s?(?:元|块|yuan|rmb|cny)"
)
_PRICE_SKIP_BEFORE = re.compile(
    r"(?:券|优惠|减|补贴|国补|省|返|运费|邮费|实付|付款|支付|付了|退|赔|差价|满|定金|尾款|原价|"
    r"到手|活动|秒杀|折|共|合计|总|最高|最多|最低|最少|不超过|超过|低于|高于|每|分期|期|"
    r"加|多|少|便宜|贵|至|到|~|-|—|额度|金额)[^,]{0,4}$"
)
_PRICE_SKIP_AFTER = re.compile(
    r"^(?:起|以上|以下|以内|左右|内|多|/|每|一|的?(?:优惠|券|补贴|红包|差价|运费|定金)|-|~|至|到)"
)
_PRICE_CUE = re.compile(r"价|卖|这款|该款|此款|这个|这双|这件|它|price|cost")
_ORDER_AMOUNT_CUE = re.compile(
    r"(?:实付|实际支付|实付款|支付了|付款金额|订单金额|订单总额|总价)[^,]{0,4}$"
)
_QUESTION_END = re.compile(r"(?:吗|呢|么)$")

_STATUS_WORDS = {
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
_STATUS = re.compile("|".join(re.escape(_norm(w)) for w in sorted(_STATUS_WORDS, key=len)[::-1]))
_STATUS_SKIP_AFTER = re.compile(r"^(?:的(?:订单|商品|话)|后|时|前|之前|以后|吗|么)")
"""Attributive or conditional use: 已发货的订单可以…, 签收后…"""
_STATUS_SKIP_BEFORE = re.compile(r"(?:如果|若|如|一旦|只有|仅|才|等|待到|是否|可能)[^,]{0,3}$")
_STATUS_NORM = {_norm(k): v for k, v in _STATUS_WORDS.items()}
_DATE = re.compile(r"(?:(20\d\d)[-/年.])?(\d{1,2})(?:月|-|/)(\d{1,2})(?:日|号)?(?!\d)")
_EVENTS = (
    ("下单", "created_at"),
    ("付款", "paid_at"),
    ("支付", "paid_at"),
    ("发货", "shipped_at"),
    ("签收", "delivered_at"),
    ("取消", "cancelled_at"),
    ("完成", "completed_at"),
)
_DATE_SKIP = re.compile(
    r"预计|预期|大约|约|左右|之前|以前|前|之后|以后|后|内|起|截止|截至|最晚|最迟|将|会"
)


def _true_status(order: Order, word: str) -> bool:
    status = str(order.status)
    if word.startswith("!"):
        return not _true_status(order, word[1:])
    if word == "已发货":
        return order.shipped_at is not None and status != "已取消"
    if word == "已签收":
        return order.delivered_at is not None and status != "已取消"
    if word == "已完成":  # '已完成签收' is said of a delivered order too
        return status == word or (order.delivered_at is not None and status != "已取消")
    return status == word


def _describe_order(order: Order) -> str:
    parts = [f"{order.id}: status {order.status}"]
    for label, attr in (("shipped", "shipped_at"), ("delivered", "delivered_at")):
        when = getattr(order, attr)
        if when is not None:
            parts.append(f"{label} {when.isoformat()}")
    parts.append(f"pay ¥{order.pay_fen / 100:.2f}")
    return ", ".join(parts)


def _sku_label(p: Product, s: Sku) -> str:
    opts = "/".join(str(v) for v in s.options.values())
    return f"{s.id} {p.title} {opts}".strip()


def _fen(amount: str) -> int:
    yuan, _, cents = amount.partition(".")
    return int(yuan) * 100 + int((cents + "00")[:2])


def _yuan(fen: int) -> str:
    return f"¥{fen // 100}" if fen % 100 == 0 else f"¥{fen / 100:.2f}"


@dataclass(frozen=True)
class World:
    """The records a trial's replies are checked against: the shop's catalog (taken once per
    trial) and the orders the conversation touches at its start (each turn brings its own
    snapshot, taken after the turn)."""

    products: tuple[Product, ...] = ()
    orders: dict[str, Order] = field(default_factory=dict)
    timezone: str = "Asia/Shanghai"


@dataclass
class Subject:
    """What the text is talking about at a point: candidate products and the options named."""

    products: tuple[str, ...] = ()
    options: dict[str, str] = field(default_factory=dict)
    sku: Sku | None = None
    order: str | None = None


@dataclass
class _Span:
    start: int
    end: int
    kind: str  # product | option | order
    value: Any


class FactChecker:
    """Checks replies against one trial's world; built once per trial (the catalog index)."""

    def __init__(self, products: Iterable[Product], timezone: str = "Asia/Shanghai") -> None:
        self.catalog = Catalog(products)
        try:
            self.tz: Any = ZoneInfo(timezone)
        except Exception:  # an unknown zone name: fall back to the shops' default
            self.tz = ZoneInfo("Asia/Shanghai")

    # ----- mentions -----

    def _spans(self, text: str, orders: dict[str, Order]) -> list[_Span]:
        spans = [
            _Span(a, b, "product", (ids, sku)) for a, b, ids, sku in self.catalog.mentions(text)
        ]
        for oid in orders:
            key = _norm(oid)
            for m in re.finditer(re.escape(key), text):
                if _bounded(text, m.start(), m.end()):
                    spans.append(_Span(m.start(), m.end(), "order", oid))
        return sorted(spans, key=lambda s: s.start)

    def _options_in(self, text: str, start: int, end: int, pid: str) -> list[tuple[int, str, str]]:
        """Option values of a product written in text[start:end]: (position, name, value)."""
        p = self.catalog.products[pid]
        values = {(k, str(v)) for s in p.skus for k, v in s.options.items()}
        found: list[tuple[int, int, str, str]] = []
        for name, value in values:
            v = _norm(value)
            if not v:
                continue
            for m in re.finditer(re.escape(v), text[start:end]):
                a, b = start + m.start(), start + m.end()
                if not _bounded(text, a, b):
                    continue
                if v.replace(".", "").isdigit():
                    before = text[max(0, a - len(_norm(name)) - 2) : a]
                    if not (text[b : b + 1] in ("码", "号") or _norm(name) in before):
                        continue
                found.append((a, b, name, value))
        # longest value wins where two overlap ('雪域白' over '白')
        found.sort(key=lambda f: (f[0], -(f[1] - f[0])))
        out: list[tuple[int, str, str]] = []
        last_end = -1
        for a, b, name, value in found:
            if a >= last_end:
                out.append((a, name, value))
                last_end = b
        return out

    def subject_of(
        self, text: str, orders: dict[str, Order] | None = None, previous: Subject | None = None
    ) -> Subject:
        """What a shopper's message is about: its product when it names exactly one (with the
        options it names), its order when it names exactly one; what it leaves out stays as
        it was (`previous`: '那白色呢？' keeps the product and changes the colour)."""
        norm = _norm(text)
        spans = self._spans(norm, orders or {})
        prev = previous or Subject()
        products = {s.value[0] for s in spans if s.kind == "product"}
        order_ids = {s.value for s in spans if s.kind == "order"}
        subject = Subject(
            products=prev.products, options=dict(prev.options), sku=prev.sku,
            order=next(iter(order_ids)) if len(order_ids) == 1 else prev.order,
        )  # fmt: skip
        if len(products) == 1:
            ids, sku = next(s.value for s in spans if s.kind == "product")
            subject.products, subject.sku, subject.options = ids, sku, {}
        elif len(products) > 1:
            subject.products, subject.sku, subject.options = (), None, {}
        if len(subject.products) == 1 and subject.products[0] in self.catalog.products:
            for _, name, value in self._options_in(norm, 0, len(norm), subject.products[0]):
                subject.options[name] = value
                subject.sku = None
        return subject

    # ----- one reply -----

    def check(
        self,
        reply: str,
        *,
        before: dict[str, Order],
        after: dict[str, Order],
        seed: Subject | None = None,
        turn: int = 0,
    ) -> list[WrongFact]:
        norm, index = normalize(reply)
        orders = {**before, **after}
        spans = self._spans(norm, orders)
        state = Subject(**(seed.__dict__ if seed else {}))
        state.options = dict(state.options)
        wrong: list[WrongFact] = []
        for s_start, s_end, question in _sentences(norm):
            sentence_orders = [
                s.value for s in spans if s.kind == "order" and s_start <= s.start < s_end
            ]
            for c_start, c_end in _clauses(norm, s_start, s_end):
                clause = norm[c_start:c_end]
                original = reply[index[c_start] : index[c_end - 1] + 1] if c_end > c_start else ""
                events = self._events(norm, spans, c_start, c_end, state)
                skip = question or bool(_QUESTION_END.search(clause))
                for pos, kind, payload in events:
                    if kind == "product":
                        ids, sku = payload
                        state.products, state.sku, state.options = ids, sku, {}
                        if len(ids) == 1:  # options written before the name, same clause
                            for _, name, value in self._options_in(norm, c_start, pos, ids[0]):
                                state.options[name] = value
                    elif kind == "option":
                        name, value = payload
                        state.options[name] = value
                        state.sku = None
                    elif kind == "order":
                        state.order = payload
                    elif not skip:
                        wrong += self._claim(
                            kind, payload, pos, norm, c_start, original, state,
                            before, after, sentence_orders,
                        )  # fmt: skip
        return [WrongFact(w.kind, w.claim, w.record, turn) for w in _unique(wrong)]

    def _events(
        self, norm: str, spans: list[_Span], start: int, end: int, state: Subject
    ) -> list[tuple[int, str, Any]]:
        """Mentions and claims in a clause, in text order."""
        events: list[tuple[int, str, Any]] = []
        products_here = [s for s in spans if s.kind == "product" and start <= s.start < end]
        for s in spans:
            if start <= s.start < end:
                events.append((s.start, s.kind, s.value))
        # options of the product in play at each point
        bounds = [start] + [s.end for s in products_here] + [end]
        current = state.products
        for k in range(len(bounds) - 1):
            if k > 0:
                current = products_here[k - 1].value[0]
            if len(current) == 1 and current[0] in self.catalog.products:
                for pos, name, value in self._options_in(
                    norm, bounds[k], bounds[k + 1], current[0]
                ):
                    if k == 0 and products_here:
                        continue  # before the first name: read when the name comes
                    events.append((pos, "option", (name, value)))
        clause = norm[start:end]
        taken = [(m.start(), m.end()) for m in _ASK_STOCK.finditer(clause)]
        for m in _NEG_STOCK.finditer(clause):
            if any(a <= m.start() < b for a, b in taken):
                continue
            taken.append((m.start(), m.end()))
            events.append((start + m.start(), "stock", (False, m)))
        for m in _POS_STOCK.finditer(clause):
            if any(a <= m.start() < b for a, b in taken):
                continue
            events.append((start + m.start(), "stock", (True, m)))
        for m in _COUNT.finditer(clause):
            events.append((start + m.start(1), "count", int(m.group(1))))
        for m in _MONEY.finditer(clause):
            events.append((start + m.start(), "money", m))
        for m in _STATUS.finditer(clause):
            events.append(
                (start + m.start(), "status", (_STATUS_NORM[m.group(0)], len(m.group(0))))
            )
        for m in _DATE.finditer(clause):
            events.append((start + m.start(), "date", m))
        if len(state.products) == 1 or products_here:
            events.append((start, "figures", None))
        kinds_order = {"product": 0, "order": 0, "option": 1}
        return sorted(events, key=lambda e: (e[0], kinds_order.get(e[1], 2)))

    # ----- one claim -----

    def _claim(
        self,
        kind: str,
        payload: Any,
        pos: int,
        norm: str,
        c_start: int,
        original: str,
        state: Subject,
        before: dict[str, Order],
        after: dict[str, Order],
        sentence_orders: list[str],
    ) -> list[WrongFact]:
        clause = _clause_text(norm, c_start)
        if kind == "stock":
            positive, m = payload
            if _OTHER.search(norm[c_start:pos]) or _STOCK_SKIP_BEFORE.search(clause[: m.start()]):
                return []
            if _STOCK_SKIP_AFTER.match(clause[m.end() :]):
                return []
            return self._stock(positive, original, state)
        if kind == "count":
            return self._count(payload, original, state)
        if kind == "money":
            m = payload
            before_text, after_text = clause[: m.start()], clause[m.end() :]
            cue = _ORDER_AMOUNT_CUE.search(before_text)
            if state.order and cue:
                paid = not re.match(r"订单|总", cue.group(0))
                return self._order_amount(m, paid, original, state.order, before, after)
            if _PRICE_SKIP_BEFORE.search(before_text) or _PRICE_SKIP_AFTER.match(after_text):
                return []
            last_order = _last_order_before(norm, pos, sentence_orders)
            if last_order is not None and last_order > self._last_product_at(norm, pos):
                return []  # an amount about an order, not a product's price
            if not self._attached(norm, c_start, pos, before_text, state):
                return []
            return self._price(_fen(m.group(1) or m.group(2)), original, state, before, after)
        if kind == "status":
            oid = state.order or (sentence_orders[0] if len(set(sentence_orders)) == 1 else None)
            word, length = payload
            at = pos - c_start
            if oid is None:
                return []
            if _STATUS_SKIP_AFTER.match(clause[at + length :]) or _STATUS_SKIP_BEFORE.search(
                clause[:at]
            ):
                return []
            return self._status(word, original, oid, before, after)
        if kind == "date":
            return self._date(payload, clause, original, state.order, before, after)
        if kind == "figures":
            return self._figures(norm, c_start, original, state)
        return []

    def _attached(
        self, norm: str, c_start: int, pos: int, before_text: str, state: Subject
    ) -> bool:
        """An amount is a product's price when its clause names the product (or one of its
        options) or says 价格/这款…, and names no model word of a sibling product ('Pro 版')."""
        if len(state.products) != 1 or state.products[0] not in self.catalog.products:
            return False
        pid = state.products[0]
        if any(
            re.search(rf"(?<![a-z0-9]){re.escape(t)}(?![a-z0-9])", before_text)
            for t in self.catalog.rivals.get(pid, ())
        ):
            return False
        return (
            self._last_product_at(norm, pos) >= c_start
            or bool(self._options_in(norm, c_start, pos, pid))
            or _PRICE_CUE.search(before_text) is not None
        )

    def _last_product_at(self, norm: str, pos: int) -> int:
        found = [a for a, _, _, _ in self.catalog.mentions(norm[:pos])]
        return max(found) if found else -1

    def _candidates(self, state: Subject) -> tuple[Product, list[Sku]] | None:
        """The one product in play and its SKUs that fit the options named (None: ambiguous)."""
        if len(state.products) != 1 or state.products[0] not in self.catalog.products:
            return None
        p = self.catalog.products[state.products[0]]
        if state.sku is not None:
            return p, [state.sku]
        skus = [
            s for s in p.skus if all(str(s.options.get(k)) == v for k, v in state.options.items())
        ]
        return (p, skus) if skus else None

    def _stock(self, positive: bool, original: str, state: Subject) -> list[WrongFact]:
        found = self._candidates(state)
        if found is None:
            return []
        p, skus = found
        if positive and all(s.stock == 0 for s in skus):
            record = "; ".join(f"{_sku_label(p, s)}: stock 0" for s in skus[:4])
            return [WrongFact("stock", original, record)]
        if not positive and all(s.stock > 0 for s in skus):
            record = "; ".join(f"{_sku_label(p, s)}: stock {s.stock}" for s in skus[:4])
            return [WrongFact("stock", original, record)]
        return []

    def _count(self, n: int, original: str, state: Subject) -> list[WrongFact]:
        found = self._candidates(state)
        if found is None:
            return []
        p, skus = found
        if n in {s.stock for s in skus} | {sum(s.stock for s in skus)}:
            return []
        record = "; ".join(f"{_sku_label(p, s)}: stock {s.stock}" for s in skus[:4])
        return [WrongFact("stock_count", original, record)]

    def _price(
        self, fen: int, original: str, state: Subject, before: dict[str, Order],
        after: dict[str, Order],
    ) -> list[WrongFact]:  # fmt: skip
        found = self._candidates(state)
        if found is None:
            return []
        p, skus = found
        allowed = {s.price_fen for s in skus}
        sku_ids = {s.id for s in skus}
        for order in (*before.values(), *after.values()):
            for line in order.lines:
                if line.sku_id in sku_ids or (line.product_id == p.id and not state.options):
                    allowed |= {line.unit_price_fen, line.unit_price_fen * line.quantity}
        if fen in allowed:
            return []
        prices = ", ".join(sorted({_yuan(s.price_fen) for s in skus}))
        return [WrongFact("price", original, f"{p.id} {p.title}: price {prices}")]

    def _order_amount(
        self, m: re.Match[str], paid: bool, original: str, oid: str,
        before: dict[str, Order], after: dict[str, Order],
    ) -> list[WrongFact]:  # fmt: skip
        order = after.get(oid) or before.get(oid)
        if order is None:
            return []
        fen = _fen(m.group(1) or m.group(2))
        allowed = {order.pay_fen, order.total_fen, order.total_fen + order.shipping_fee_fen}
        if paid:  # 实付 is what was paid
            allowed = {order.pay_fen}
        if fen in allowed:
            return []
        return [WrongFact("amount", original, _describe_order(order))]

    def _status(
        self, word: str, original: str, oid: str, before: dict[str, Order],
        after: dict[str, Order],
    ) -> list[WrongFact]:  # fmt: skip
        states = [o for o in (before.get(oid), after.get(oid)) if o is not None]
        if not states or any(_true_status(o, word) for o in states):
            return []
        return [WrongFact("status", original, _describe_order(states[-1]))]

    def _date(
        self, m: re.Match[str], clause: str, original: str, oid: str | None,
        before: dict[str, Order], after: dict[str, Order],
    ) -> list[WrongFact]:  # fmt: skip
        if oid is None:
            return []
        order = after.get(oid) or before.get(oid)
        if order is None:
            return []
        near = clause[max(0, m.start() - 6) : m.end() + 6]
        if _DATE_SKIP.search(near):
            return []
        events = [attr for word, attr in _EVENTS if word in clause[m.end() : m.end() + 6]]
        if len(set(events)) != 1:
            return []
        when: datetime | None = getattr(order, events[0])
        if when is None:
            return []
        month, day = int(m.group(2)), int(m.group(3))
        local = when.astimezone(self.tz).date()
        try:
            said = date(int(m.group(1)) if m.group(1) else local.year, month, day)
        except ValueError:
            return []
        if said == local:
            return []
        return [WrongFact("date", original, f"{order.id}: {events[0]} {local.isoformat()}")]

    def _figures(self, norm: str, c_start: int, original: str, state: Subject) -> list[WrongFact]:
        """A number with a unit after an attribute's name, against that attribute's value."""
        # the product in play for this clause: the last one named in it, else the state
        clause_end = c_start + len(_clause_text(norm, c_start))
        named = [ids for a, _, ids, _ in self.catalog.mentions(norm[c_start:clause_end])]
        ids = named[-1] if named else state.products
        if len(ids) != 1 or ids[0] not in self.catalog.products:
            return []
        p = self.catalog.products[ids[0]]
        clause = norm[c_start:clause_end]
        wrong: list[WrongFact] = []
        for name, value in _flat_attributes(p.attributes):
            key = _norm(name)
            at = clause.find(key)
            if len(key) < 2 or at < 0:
                continue
            on_record: dict[str, set[str]] = {}
            for num, unit in _UNIT.findall(_norm(value)):
                on_record.setdefault(unit, set()).add(_number(num))
            if not on_record:
                continue
            for fm in _UNIT.finditer(clause, at + len(key)):
                said, rest = _number(fm.group(1)), clause[fm.start(2) :]
                unit = next((u for u in sorted(on_record, key=len, reverse=True)
                             if rest.startswith(u)), None)  # fmt: skip
                left = clause[fm.start(1) - 1 : fm.start(1)]
                if unit is None or (left and (_ascii_alnum(left) or left == ".")):
                    continue
                if said not in on_record[unit]:
                    wrong.append(WrongFact("figure", original, f"{p.id} {p.title}: {name} {value}"))
                    break
        return wrong


def _number(text: str) -> str:
    return text.rstrip("0").rstrip(".") if "." in text else text


def _flat_attributes(attributes: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for k, v in attributes.items():
        if isinstance(v, dict):
            out.append((str(k), " ".join(f"{a} {b}" for a, b in v.items())))
        elif isinstance(v, list):
            out.append((str(k), " ".join(str(x) for x in v)))
        else:
            out.append((str(k), str(v)))
    return out


def _last_order_before(norm: str, pos: int, sentence_orders: list[str]) -> int | None:
    found = [norm.rfind(_norm(o), 0, pos) for o in sentence_orders]
    found = [f for f in found if f >= 0]
    return max(found) if found else None


_SENTENCE_END = re.compile(r"[。!?;\n]+")


def _sentences(norm: str) -> list[tuple[int, int, bool]]:
    """(start, end, is a question) per sentence."""
    out: list[tuple[int, int, bool]] = []
    start = 0
    for m in _SENTENCE_END.finditer(norm):
        out.append((start, m.start(), "?" in m.group(0)))
        start = m.end()
    if start < len(norm):
        out.append((start, len(norm), False))
    return out


def _clauses(norm: str, start: int, end: int) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    a = start
    for k in range(start, end):
        if norm[k] == ",":
            out.append((a, k))
            a = k + 1
    out.append((a, end))
    return [(a, b) for a, b in out if b > a]


def _clause_text(norm: str, start: int) -> str:
    m = re.compile(r"[,。!?;\n]").search(norm, start)
    return norm[start : m.start() if m else len(norm)]


def _unique(items: list[WrongFact]) -> list[WrongFact]:
    seen: set[tuple[str, str, str]] = set()
    out: list[WrongFact] = []
    for w in items:
        key = (w.kind, w.claim, w.record)
        if key not in seen:
            seen.add(key)
            out.append(w)
    return out
