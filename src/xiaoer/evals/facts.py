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
  amounts given 分别 (respectively) after a list of products are matched to its items in order;
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
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from xiaoer.domain.models import Order, Product, Sku
from xiaoer.evals.reading import (
    ASK_STOCK,
    COUNT,
    DATE,
    DATE_SKIP,
    EVENTS,
    MONEY,
    NEG_STOCK,
    ORDER_AMOUNT_CUE,
    OTHER,
    POS_STOCK,
    PRICE_CUE,
    PRICE_SKIP_AFTER,
    PRICE_SKIP_BEFORE,
    QUESTION_END,
    STATUS,
    STATUS_NORM,
    STATUS_RULE,
    STATUS_SKIP_AFTER,
    STATUS_SKIP_BEFORE,
    STOCK_SKIP_AFTER,
    STOCK_SKIP_BEFORE,
    UNIT,
    Catalog,
    ascii_alnum,
    bounded,
    clause_text,
    clauses,
    flat_attributes,
    fold,
    normalize,
    number,
    sentences,
)

SHARE = re.compile(r"([\u4e00-\u9fff]{1,8})\s?(\d{1,3})\s?%")
"""A material's share in an attribute's value: 棉65%."""
NOT_SO = re.compile(r"不|非|没|无")


def _called_whole(clause: str, material: str) -> bool:
    """The clause says the material is all of it (纯棉, 100%棉, 棉100%) and does not deny it."""
    if NOT_SO.search(clause):
        return False
    for n in range(len(material)):
        m = re.escape(material[n:])
        if re.search(rf"纯{m}|100\s?%\s?{m}|{m}\s?100\s?%", clause):
            return True
    return False


NOT_FOUND = re.compile(r"(?:没有|没|未)(?:找到|查到)[^。！？\n]*$")
"""A stock word after "没有找到…" in the same sentence describes the search, not a product."""


@dataclass(frozen=True)
class WrongFact:
    kind: str
    """stock | stock_count | price | figure | material | status | date | amount"""
    claim: str
    """The reply's words (the clause the claim was read from)."""
    record: str
    """The record it contradicts."""
    turn: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "claim": self.claim, "record": self.record, "turn": self.turn}


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
            key = fold(oid)
            for m in re.finditer(re.escape(key), text):
                if bounded(text, m.start(), m.end()):
                    spans.append(_Span(m.start(), m.end(), "order", oid))
        return sorted(spans, key=lambda s: s.start)

    def _options_in(self, text: str, start: int, end: int, pid: str) -> list[tuple[int, str, str]]:
        """Option values of a product written in text[start:end]: (position, name, value)."""
        p = self.catalog.products[pid]
        values = {(k, str(v)) for s in p.skus for k, v in s.options.items()}
        found: list[tuple[int, int, str, str]] = []
        for name, value in values:
            v = fold(value)
            if not v:
                continue
            for m in re.finditer(re.escape(v), text[start:end]):
                a, b = start + m.start(), start + m.end()
                if not bounded(text, a, b):
                    continue
                if v.replace(".", "").isdigit():
                    before = text[max(0, a - len(fold(name)) - 2) : a]
                    if not (text[b : b + 1] in ("码", "号") or fold(name) in before):
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
        norm = fold(text)
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
        listed: list[tuple[tuple[str, ...], Sku | None]] = []  # the last list of products
        for s_start, s_end, question in sentences(norm):
            sentence_orders = [
                s.value for s in spans if s.kind == "order" and s_start <= s.start < s_end
            ]
            for c_start, c_end in clauses(norm, s_start, s_end):
                clause = norm[c_start:c_end]
                original = reply[index[c_start] : index[c_end - 1] + 1] if c_end > c_start else ""
                events = self._events(norm, spans, c_start, c_end, state)
                skip = question or bool(QUESTION_END.search(clause))
                each = RESPECTIVELY.search(clause)
                amounts = [e for e in events if e[1] == "money"]
                if each and len(amounts) > 1:  # "价格分别为¥299、¥199": one per item listed
                    here = [
                        s.value for s in spans
                        if s.kind == "product" and s_start <= s.start < c_start + each.start()
                    ]  # fmt: skip
                    # a list named here, else the last one; one product named here has its
                    # options' amounts read as usual (items empty)
                    items = here if len(here) > 1 else [] if here else listed
                    if items:  # the amounts go to the list's items below, not to the subject
                        events = [e for e in events if e[1] != "money"]
                    if items and not skip and len(items) == len(amounts):
                        wrong += self._respective(
                            items, amounts, clause, original, before, after
                        )  # fmt: skip
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
            named = [s.value for s in spans if s.kind == "product" and s_start <= s.start < s_end]
            if len(named) > 1:
                listed = named
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
        taken = [(m.start(), m.end()) for m in ASK_STOCK.finditer(clause)]
        for m in NEG_STOCK.finditer(clause):
            if any(a <= m.start() < b for a, b in taken):
                continue
            taken.append((m.start(), m.end()))
            events += [(start + at, "stock", (False, m)) for at in _said_of(clause, m)]
        for m in POS_STOCK.finditer(clause):
            if any(a <= m.start() < b for a, b in taken):
                continue
            events += [(start + at, "stock", (True, m)) for at in _said_of(clause, m)]
        for m in COUNT.finditer(clause):
            events.append((start + m.start(1), "count", int(m.group(1))))
        for m in MONEY.finditer(clause):
            events.append((start + m.start(), "money", m))
        for m in STATUS.finditer(clause):
            events.append((start + m.start(), "status", (STATUS_NORM[m.group(0)], len(m.group(0)))))
        for m in DATE.finditer(clause):
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
        clause = clause_text(norm, c_start)
        if kind == "stock":
            positive, m = payload
            if OTHER.search(norm[c_start:pos]) or STOCK_SKIP_BEFORE.search(clause[: m.start()]):
                return []
            if NOT_FOUND.search(norm[:pos]):  # "没有找到符合条件的商品（…，有货）": the filter
                return []
            if STOCK_SKIP_AFTER.match(clause[m.end() :]):
                return []
            return self._stock(positive, original, state)
        if kind == "count":
            return self._count(payload, original, state)
        if kind == "money":
            m = payload
            before_text, after_text = clause[: m.start()], clause[m.end() :]
            cue = ORDER_AMOUNT_CUE.search(before_text)
            if state.order and cue:
                paid = not re.match(r"订单|总", cue.group(0))
                return self._order_amount(m, paid, original, state.order, before, after)
            if PRICE_SKIP_BEFORE.search(before_text) or PRICE_SKIP_AFTER.match(after_text):
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
            if (
                STATUS_SKIP_AFTER.match(clause[at + length :])
                or STATUS_SKIP_BEFORE.search(clause[:at])
                or STATUS_RULE.search(clause)
            ):
                return []
            return self._status(word, original, oid, before, after)
        if kind == "date":
            return self._date(payload, clause, original, state.order, before, after)
        if kind == "figures":
            return self._figures(norm, c_start, original, state)
        return []

    def _respective(
        self,
        items: list[tuple[tuple[str, ...], Sku | None]],
        amounts: list[tuple[int, str, Any]],
        clause: str,
        original: str,
        before: dict[str, Order],
        after: dict[str, Order],
    ) -> list[WrongFact]:
        """Amounts "分别" (respectively) given for the products of a list, matched in order:
        each is checked as the price of its own item, none as the price of the last one."""
        first = amounts[0][2]
        if PRICE_SKIP_BEFORE.search(clause[: first.start()]):
            return []  # "券后分别为…": computed amounts, not prices
        wrong: list[WrongFact] = []
        for (ids, sku), (_, _, m) in zip(items, amounts, strict=True):
            if PRICE_SKIP_AFTER.match(clause[m.end() :]):
                continue
            item = Subject(products=ids, sku=sku)
            wrong += self._price(_fen(m.group(1) or m.group(2)), original, item, before, after)
        return wrong

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
            or PRICE_CUE.search(before_text) is not None
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
        # one SKU, the SKUs named, the whole product, or every SKU sharing one option value
        # (a list filtered by size sums that size over all colours)
        sums = {s.stock for s in skus} | {sum(s.stock for s in skus), sum(s.stock for s in p.skus)}
        for key, value in {(k, v) for s in p.skus for k, v in s.options.items()}:
            sums.add(sum(s.stock for s in p.skus if s.options.get(key) == value))
        if n in sums:
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
        if fen in allowed or (fen % 100 == 0 and fen // 100 in _whole_yuan(allowed)):
            return []  # ¥49 for ¥49.90 is a rounding, not another price
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
        if DATE_SKIP.search(near):
            return []
        events = [attr for word, attr in EVENTS if word in clause[m.end() : m.end() + 6]]
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
        clause_end = c_start + len(clause_text(norm, c_start))
        named = [ids for a, _, ids, _ in self.catalog.mentions(norm[c_start:clause_end])]
        ids = named[-1] if named else state.products
        if len(ids) != 1 or ids[0] not in self.catalog.products:
            return []
        p = self.catalog.products[ids[0]]
        clause = norm[c_start:clause_end]
        wrong: list[WrongFact] = []
        for name, value in flat_attributes(p.attributes):
            key = fold(name)
            at = clause.find(key)
            if len(key) < 2 or at < 0:
                continue
            on_record: dict[str, set[str]] = {}
            for num, unit in UNIT.findall(fold(value)):
                on_record.setdefault(unit, set()).add(number(num))
            if not on_record:
                continue
            for fm in UNIT.finditer(clause, at + len(key)):
                said, rest = number(fm.group(1)), clause[fm.start(2) :]
                unit = next((u for u in sorted(on_record, key=len, reverse=True)
                             if rest.startswith(u)), None)  # fmt: skip
                left = clause[fm.start(1) - 1 : fm.start(1)]
                if unit is None or (left and (ascii_alnum(left) or left == ".")):
                    continue
                if said not in on_record[unit]:
                    wrong.append(WrongFact("figure", original, f"{p.id} {p.title}: {name} {value}"))
                    break
        for name, value in flat_attributes(p.attributes):
            for material, share in SHARE.findall(fold(value)):
                if int(share) < 100 and _called_whole(clause, material):
                    record = f"{p.id} {p.title}: {name} {value}"
                    wrong.append(WrongFact("material", original, record))
                    break
        return wrong


LIST_AFTER = re.compile(r"的?:")
RESPECTIVELY = re.compile(r"分别|respectively")


def _said_of(clause: str, m: re.Match[str]) -> list[int]:
    """Where a stock word's claim is read: where it stands — or, when it introduces a list
    ("同款现在有货的：A、B"), at the end of each item, so that each item's own options are
    the subject, not the options of the sentence before."""
    if not LIST_AFTER.match(clause, m.end()):
        return [m.start()]
    ends = [k for k in range(m.end(), len(clause)) if clause[k] == "、"]
    return [*ends, len(clause)]


def _last_order_before(norm: str, pos: int, sentence_orders: list[str]) -> int | None:
    found = [norm.rfind(fold(o), 0, pos) for o in sentence_orders]
    found = [f for f in found if f >= 0]
    return max(found) if found else None


def _whole_yuan(amounts: set[int]) -> set[int]:
    return {a // 100 for a in amounts} | {round(a / 100) for a in amounts}


def _unique(items: list[WrongFact]) -> list[WrongFact]:
    seen: set[tuple[str, str, str]] = set()
    out: list[WrongFact] = []
    for w in items:
        key = (w.kind, w.claim, w.record)
        if key not in seen:
            seen.add(key)
            out.append(w)
    return out
