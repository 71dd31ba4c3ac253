"""Checkable claims in a reply — ids, amounts, percentages, dates, phone numbers, statuses,
delivery and warranty promises — and which of them nothing on the record supports.

Deterministic: a claim is supported when its figure (or its words, for a status) appears in the
evidence: this conversation's tool results, the shopper's own words, the knowledge the turn
retrieved, the merchant's notes. Conditional sentences ("如果已签收，…") and questions claim
nothing and are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from xiaoer.domain.models import OrderStatus
from xiaoer.policy.subsidy import NOT_OFFERED


@dataclass(frozen=True, slots=True)
class Claim:
    kind: str
    """id, amount, percent, date, phone, address, status, promise, warranty, window, denied (an
    order on record said not to be theirs or not found), stock (a SKU the record says is sold
    out said to be in stock: the claim's text is its options), sold_out (something said to be sold
    out when the records show nothing sold out, or options they show in stock), price (a price on
    record given for another product or option), pure (a material said to be pure that the record
    gives as a share: "纯棉" for 棉65%), field (a figure given to a field of the record that
    holds other figures: "厚度为650+" for 厚度：约22mm), purchase (what the shopper
    bought, said with no order of theirs looked up), coupon (a coupon to use, or none, said
    with no record saying so), after_coupon (a price after a coupon that no price on record less a
    coupon it reaches comes to), subsidy (the subsidy said to apply where its check refused
    it), subsidy_unchecked (said to apply to a product on record with no check made) — or, from
    `compliance`, absolute, medical, over_promise, competitor; stock_unchecked (something said to be
    in stock when nothing on record says anything of stock: seen on a tea shop written as a new
    merchant would, "有货。" of a sold-out size, from the catalogue's list of sizes)."""
    text: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.text}"


ID = re.compile(r"(?<![A-Za-z0-9#])#?[A-Z]{1,4}\d{6,}(?!\d)")
# `\d(?<!\d\d)` below: a figure starts where a run of digits starts. The same match from inside
# the run is never the one found (the run's start matches too), and trying every digit of the
# run made a long one (a tracking number) cost its length squared.
AMOUNT = re.compile(
    r"(?:¥|￥|RMB|CNY)\s?(\d[\d,]*(?:\.\d+)?)"
    r"|(\d(?<!\d\d)[\d,]*(?:\.\d+)?)\s?(?:元|块钱|块|yuan\b|RMB\b|CNY\b)",
    re.IGNORECASE,
)
PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s?%|(?<![\d.])(\d(?:\.\d)?)\s?折")
MONTH_DAY = re.compile(r"(\d{1,2})\s?月\s?(\d{1,2})\s?[日号]")
ISO_DAY = re.compile(r"(?:(\d{4})[-/年])(\d{1,2})[-/月](\d{1,2})")
PHONE = re.compile(r"(?<!\d)1[3-9]\d(?:\d{4}|\*{4})\d{4}(?!\d)")
STREET = re.compile(r"[\u4e00-\u9fff0-9]{1,14}?(?:路|街|大道|大街|巷|弄|胡同)\s?\d+\s?号(?:院|楼)?")
"""A street address (中关村大街1号): only a lookup can say where an order goes."""
_DIVISION = re.compile(r".*(?:省|自治区|市|区|县|镇)")
STATUS = re.compile(
    r"已发货|已签收|已退款|已取消|已完成|待发货|待付款|运输中|派送中|已揽收|退款中|已到账|已退回|已出库"
)
PROMISE = re.compile(
    r"(今天|明天|后天|\d+\s?(?:个)?(?:工作日|天|日|小时))\s?(?:之?内)?\s?(?:就|即可|可以|能|会){0,2}"
    r"\s?(送达|到货|送到|到达|发货|发出|寄出|到账|退回|上门)"
)
ARRIVAL = re.compile(
    r"(?:预计|预估|估计)[^。！？，,；]{0,24}?(?:送达|到货|送到|到达|能到"
    r"|还(?:需要?|要|得)\s?(?:\d+|[一两二三四五六七八九十半])\s?个?(?:工作日|天|小时))"
)
"""An arrival estimated: the record must give one itself (seen on the tuned suite: "预计在2026年11
月20日10:19到达上海" from a parcel whose only scan was its pick-up at 10:19)."""
ESTIMATE = re.compile(r"预计|预估")
CN_DIGITS = {"一": "1", "两": "2", "二": "2", "三": "3", "四": "4", "五": "5", "六": "6", "七": "7",
             "八": "8", "九": "9", "十": "10", "半": "0.5"}  # fmt: skip
"""Small Chinese numerals as figures: 保修两年 is 保修 2 年."""
WARRANTY = re.compile(
    r"(?:保修|质保|包修|包换|保固)\s?(\d+|[一两二三四五六七八九十半])\s?(?:年|个月|天)"
    r"|(\d+|[一两二三四五六七八九十半])\s?(?:年|个月)\s?(?:保修|质保|包修)"
)
SPEC = re.compile(
    r"(\d(?<!\d\d)\d*(?:\.\d+)?)\s?(?:分贝|dB|千克|公斤|kg|克|g\b|瓦|W\b|毫安时|mAh|英寸|寸|升|L\b|厘米|cm|毫米|mm"
    r"|米|GB|TB|Hz|赫兹|℃|匹|级能效)",
    re.IGNORECASE,
)
"""A product figure with its unit (50 分贝, 235 克, 5000mAh): it comes from the records or the
shopper, never from the model's idea of what such a product usually has — the figure with the
same unit (seen: a shoe's "heel-to-toe drop 36mm" backed by its size 36)."""
RATING = re.compile(r"(?<![A-Za-z])IP[X0-9][0-9](?![0-9])", re.IGNORECASE)
"""A protection rating (IP68): a product fact, never from the model's idea of the product (seen:
"防水等级是IP68" for a phone whose records give none)."""
UNITS = {
    "分贝": "db", "千克": "kg", "公斤": "kg", "克": "g", "瓦": "w", "毫安时": "mah", "英寸": "寸",
    "升": "l", "厘米": "cm", "毫米": "mm", "赫兹": "hz",
}  # fmt: skip
"""Spellings of one unit, to one name."""
WINDOW = re.compile(r"(\d+)\s?天\s?(?:内)?\s?(?:无理由|可退|可以退|退换|包退|包换|价保|保价)")
DONE = re.compile(
    r"(已经?|已为您|已帮您|帮您)(为您|帮您)?(取消|退款|退货|换货|修改|改好|改了|申请|办理|提交)"
    r"|确认(取消|退款|退货|换货)"
    r"|(已经?|已为您|已帮您)(为您|帮您)?(赔付|赔偿|补偿|打给|打到|转给|转到|退给|返还|补发|发放)"
    # the address, the way the model says it changed (seen: "已经改地址为…", "收货地址已更新为…")
    r"|(已经?|已为您|已帮您)(为您|帮您)?(改|更新|更改|变更)了?(收货)?(地址|信息)"
    r"|(地址|收货人|信息)(已经?|已)(为您)?(更新|修改|改|更改|变更)"
    r"|已将.{0,40}?(改为|改成|更新为|修改为|变更为)"
    # a promise to do it now is no better (seen, to "I said I confirm. Execute now." with the
    # cancellation still waiting for its 确认: "您已经确认了取消订单，我将立即执行。")
    r"|我(将|会|这就|马上|立即|立刻|现在就)(为您|帮您)?(立即|马上|立刻)?(执行|取消|退款|办理)"
)
"""A claim that a change was made ("已为您取消…", "地址已经修改为…"): only the action desk, which
writes its own replies, may say so; from the model it needs a change on record."""
COMMIT = re.compile(
    r"赔|补偿|退给|退您|退还|返还|返现|打给|打到|转给|转到|送您|送你|给您|给你|发放"
)
"""A sentence where the shop gives money or goods: its amounts must come from the shop's own
records, not from the shopper's words ("赔我 200" does not back "赔您 200 元")."""
AFFIRM = re.compile(r"有货|现货|库存|售价|价格|价钱|¥|￥|元|开售|发售|上市|支持|兼容|适配")
NEGATION = re.compile(r"没有|暂无|不|无|未")
MODEL = re.compile(
    r"(?<![A-Za-z0-9])[A-Za-z]+\s?\d{1,4}[A-Za-z]?(?:\s?(?:[A-Z][a-z]{1,4}|[A-Z]{2}))?"
    r"(?![A-Za-z0-9])"
)
"""A model designation — letters and a number, with the short capitalised series word that may
follow it (a two-letter one too): a sentence that says one is in stock, costs something or
supports something must name one the shop's records name — the shopper naming a product that
does not exist does not make it exist."""
DENIED = re.compile(
    r"不是您的|不属于您|不在您的|没有(?:找到|查到)|找不到|查不到|不存在|无法(?:找到|查到|查询)"
    r"|(?:can(?:no|')t|could ?n[o']t|unable to) (?:find|locate)|not (?:yours|in your|found)"
    r"|does ?n[o']t exist",
    re.IGNORECASE,
)
"""A sentence saying an order is not the shopper's or does not exist."""
IN_STOCK = re.compile(
    r"有货|现货|有库存|库存充足|还有库存|库存\s?[1-9]\d*|都有|(?<![没])有[的哦呢呀啊]?(?=[，,。！!；;\s]|$)"
)
"""A sentence saying something is in stock — "有货", or "有" ending a clause (seen, in other
words: "…大号有，红的和绿的。" of a sold-out option)."""
COUNT = re.compile(r"库存\s?(\d+)")
STOCKED = re.compile(r"有货|现货|有库存|库存充足|还有库存")
"""A plain statement that something is in stock (`IN_STOCK` without its looser forms)."""
STOCK_ON_RECORD = re.compile(r"有货|现货|库存|缺货|售罄|无货|断货|预售|已下架")
"""A record that says anything of stock: a product's SKU rows, a search list, a stock note."""
SKU_ROW = re.compile(
    r"^- (.+?) [¥￥]\d[\d,]*(?:\.\d+)? (缺货|已下架|预售|库存\d+)(?:，.*)?$", re.MULTILINE
)
"""A SKU row of a product's record (`tools.format.sku_text`): its options, price and stock
state (缺货, 已下架, 预售 or 库存N, then maybe a restock or shipping date)."""
ASKED_ROWS = re.compile(r"^顾客问的规格：\n((?:- .+(?:\n|$))+)", re.MULTILINE)
"""The SKU rows of the options the shopper named, first in a product's record
(`tools.format.product_detail`)."""
NOT_IN_STOCK = ("缺货", "已下架")
OUT_OF_STOCK = re.compile(
    r"售罄|(?<![不没有])缺货|没货|无货|断货|卖完|卖光|已下架|(?:没有|暂无)(?:现货|库存)(?!信息|数据|记录)"
    r"|库存不足"
)
"""A sentence saying something is sold out: the shop's records must say something is (seen: a
size nobody asked about said to be sold out, with no lookup), and not of the options named."""
PRICED = re.compile(
    r"(?:满|减|价|费|付|退|补|券|省|低至|仅|只要|立减|优惠)\s?[:：]?\s?[¥￥]?\s?(\d[\d,]*(?:\.\d+)?)"
    r"|(\d(?<!\d\d)[\d,]*(?:\.\d+)?)\s?(?:包邮|起)"
)
"""A figure written as money without a currency sign: 满99, 运费：10, 199包邮."""
NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
PRODUCT_HEAD = re.compile(r"^(?:\d+\.\s*)?(\S.*?)（编号[A-Za-z0-9_-]+）(.*)$", re.MULTILINE)
"""A product's first line in a tool result (`tools.format.product_detail`, `product_line`):
its title, then (in a search list) its price or price range."""
CLAUSE = re.compile(r"[^，,、]+")
ROW_PRICE = re.compile(r"[¥￥](\d[\d,]*(?:\.\d+)?)")


@dataclass(frozen=True, slots=True)
class PriceRow:
    """One SKU's price on record, with its product's title and its option values."""

    title: str
    options: tuple[str, ...]
    price: Decimal


@dataclass(slots=True)
class PriceBook:
    """The prices the record gives, product by product and SKU by SKU: what a reply may say a
    product or an option of it costs."""

    rows: list[PriceRow] = field(default_factory=list)
    ranges: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)
    """A product's price range from a search list (no SKU rows): 36–76."""

    @property
    def prices(self) -> set[Decimal]:
        return {r.price for r in self.rows} | {p for lo_hi in self.ranges.values() for p in lo_hi}


def price_book(evidence: str) -> PriceBook:
    """The SKU rows of each product block of the evidence (a SKU row belongs to the product
    whose first line came last) and the price ranges of search-list lines."""
    book = PriceBook()
    title = ""
    for line in evidence.splitlines():
        if head := PRODUCT_HEAD.match(line.strip()):
            title = head.group(1).strip()
            found = (_number(a or b) for a, b in AMOUNT.findall(head.group(2)))
            listed = [n for n in found if n is not None]
            if listed:
                book.ranges[title] = (min(listed), max(listed))
            continue
        if title and (row := SKU_ROW.match(line.strip())):
            price = ROW_PRICE.search(line.strip(), len(row.group(1)) + 2)
            if price and (value := _number(price.group(1))) is not None:
                book.rows.append(PriceRow(title, tuple(row.group(1).split("/")), value))
    return book


def _said(value: str, flat: str) -> bool:
    """The value is written in the text as a word of its own: "42" not inside "¥429"."""
    low = value.lower()
    if not low:
        return False
    # only an edge that is a letter or digit can run into a longer word: 朱红 in 朱红38码
    left = r"(?<![0-9a-z.])" if low[0].isascii() and low[0].isalnum() else ""
    right = r"(?![0-9a-z])" if low[-1].isascii() and low[-1].isalnum() else ""
    return re.search(left + re.escape(low) + right, flat) is not None


def _priced(scope: str, book: PriceBook) -> tuple[list[PriceRow], list[str]] | None:
    """The SKU rows and ranged products a piece of text is about: the products whose titles it
    names, narrowed to the rows whose every option it names, or else any (None: it names
    nothing priced)."""
    flat = re.sub(r"\s", "", scope).lower()
    titles = {t for t in {r.title for r in book.rows} | set(book.ranges) if t.lower() in flat}
    rows = [r for r in book.rows if r.title in titles] if titles else book.rows
    whole = [r for r in rows if all(_said(v, flat) for v in r.options)]
    part = whole or [r for r in rows if any(_said(v, flat) for v in r.options)]
    if part:
        return part, []
    ranged = sorted(titles & set(book.ranges))
    if rows and titles or ranged:
        return (rows if titles else []), ranged
    return None


def misattributed(sentence: str, book: PriceBook) -> list[Claim]:
    """Prices in a sentence that are on record, but for another product or option than the one
    it names (seen: one SKU's options, then "价格分别是¥46和¥36" — ¥36 is a sibling SKU's): each
    clause is held to what it names, or, naming nothing, to what the sentence names."""
    known = book.prices
    out: list[Claim] = []
    for clause in CLAUSE.findall(sentence.replace(",", "")):
        for m in AMOUNT.finditer(clause):
            value = _number(m.group(1) or m.group(2))
            if value is None or value not in known:
                continue
            about = _priced(clause, book) or _priced(sentence, book)
            if about is None:
                continue
            rows, ranged = about
            if value in {r.price for r in rows} or any(
                book.ranges[t][0] <= value <= book.ranges[t][1] for t in ranged
            ):
                continue
            named = "、".join(dict.fromkeys("/".join(r.options) or r.title for r in rows[:3]))
            have = "、".join(sorted({f"¥{r.price:f}" for r in rows}))
            out.append(Claim("price", f"{named or '/'.join(ranged)} {have}，不是 {m.group(0)}"))
    return out


PURE = re.compile(r"(?:纯|100\s?%\s?)([\u4e00-\u9fff]{1,4})")
PURE_AFTER = re.compile(r"([\u4e00-\u9fff]{1,4})\s?100\s?%")
"""A material said to be the whole of something: 纯羊毛, 100%棉 (`PURE`), 棉100% (`PURE_AFTER`)."""


def _share(words: Iterable[str], text: str) -> tuple[int, str] | None:
    """The percentage the text gives for the first of `words` it gives one for, written either
    way round (棉65%, 65%棉), with the words around it up to the clause's ends: in a long line
    (a snippet of a description) its first 60 characters may not reach the share (seen: the
    rewrite shown a description's opening for 棉65%, and it said it could not confirm)."""
    for word in words:
        w = re.escape(word)
        if m := re.search(rf"{w}\s?(\d{{1,3}})\s?%|(?<![\d.])(\d{{1,3}})\s?%\s?{w}", text):
            start = max(text.rfind(c, 0, m.start()) for c in "\n，。；;") + 1
            ends = [e for c in "\n，。；;" if (e := text.find(c, m.end())) >= 0]
            said = text[max(start, m.start() - 30) : min(ends, default=len(text))].strip()
            return int(m.group(1) or m.group(2)), said[:60]
    return None


def impure(sentence: str, shop_says: str) -> list[Claim]:
    """Materials a sentence calls pure which the record gives as a share below the whole (seen:
    "是的，…是纯棉的" for 成分：棉65% 聚酯纤维35%). A negated clause ("不是纯棉") is left be.
    The claim carries the record's line, for the rewrite to say instead."""
    out: list[Claim] = []
    for clause in CLAUSE.findall(sentence):
        if NEGATION.search(clause):
            continue
        # the material starts the words after 纯 / 100%, or ends those before 100%
        found = [[m.group(1)[:n] for n in range(len(m.group(1)), 0, -1)]
                 for m in PURE.finditer(clause)]  # fmt: skip
        found += [[m.group(1)[n:] for n in range(len(m.group(1)))]
                  for m in PURE_AFTER.finditer(clause)]  # fmt: skip
        for words in found:
            shared = ((w, share) for w in words if (share := _share([w], shop_says)))
            word, share = next(shared, ("", None))
            if share and share[0] < 100:
                out.append(Claim("pure", f"纯{word}，查询结果是「{share[1]}」"))
    return out


PURE_CLAIM = re.compile(r"纯(\S+?)，查询结果是「([^」]*)」")
"""A `pure` claim's text: the material, and the record's line that gives its share."""


FIELD = re.compile(r"^(?:\[\d+\][^：\n]*：)?([\u4e00-\u9fff]{2,6})[：:]\s*(.+)$", re.MULTILINE)
"""A record's "name：value" line (厚度：中号约22mm) — in a product or order record, or a knowledge
snippet's ("[2] 某商品：厚度：约22mm"). Only a line's first pair: "Title：Title（…） …：…" in a
snippet of a product's description is prose, and its names are not fields."""
PRICED_FIELD = re.compile(r"价|库存")
"""Fields the price and stock checks read already, with their own rules (a coupon's price)."""
MEASURE_MAX = Decimal(1_000_000)
"""Figures from here up are codes (a tracking number, an order id), which the id checks read."""
FIELD_GAP = "[^\\d，。；！？,;!?\\n]{0,6}?"
"""Between a field's name and the figure the reply gives it: "为", "是中号约"."""


def fields(shop_says: str) -> dict[str, set[Decimal]]:
    """The figures each named field of the record gives (over every product that has it)."""
    out: dict[str, set[Decimal]] = {}
    for m in FIELD.finditer(shop_says):
        name, value = m.group(1), m.group(2)
        figures = {n for n in numbers(value) if n < MEASURE_MAX}
        if figures and not PRICED_FIELD.search(name):
            out.setdefault(name, set()).update(figures)
    return out


def misbound(sentence: str, by_field: dict[str, set[Decimal]]) -> list[Claim]:
    """Figures a sentence gives a field of the record that the field's value does not hold
    (seen, in the words of another product: "厚度为650+" where the record says 厚度：约22mm
    and 密度：650+ — a figure on record, bound to the wrong field, which the figure checks
    alone let through)."""
    out: list[Claim] = []
    for name, figures in by_field.items():
        for m in re.finditer(
            re.escape(name) + FIELD_GAP + f"(?<![A-Za-z\\d])({NUMBER.pattern})", sentence
        ):
            n = _number(m.group(1))
            if n is not None and n < MEASURE_MAX and n not in figures:
                shown = "、".join(f"{f:f}" for f in sorted(figures)[:4])
                out.append(Claim("field", f"{m.group(0)}，查询结果里{name}是 {shown}"))
    return out


NO_COUPON = re.compile(
    r"(?:没有|无|暂无|没)[^，,。；]{0,6}券|券[^，,。；]{0,4}(?:不能|不可|无法)(?:用|使用)"
)
"""A statement that there is no coupon to use ("没有券可以用"): backed only by a record that says
so itself (seen: said of a product with its record and the knowledge shown, the shop's coupons
never looked up — they had one that applied)."""
HAS_COUPON = re.compile(r"有(?:店铺|可用的?|可以用的?|优惠)?券|券可以用|可以用券|能用券")
"""A statement that there is a coupon to use ("有店铺券"): backed by a coupon on record."""
AFTER_COUPON = re.compile(r"(?:券后|用券后?|用了券|到手)[^，,。；\d]{0,6}?(\d[\d,]*(?:\.\d+)?)")
"""A price after a coupon ("用券之后到手269元"): the figure that follows the cue."""
COUPON_RULE = re.compile(r"满\s?(\d+(?:\.\d+)?)\s?元?\s?减\s?(\d+(?:\.\d+)?)")
"""A coupon's terms as the record writes them: 满299减30."""


def coupon_prices(shop_says: str, prices: set[Decimal] | None = None) -> dict[Decimal, Decimal]:
    """Each price on record less each coupon on record it reaches, to what that price comes to
    with the best coupon it reaches (the one checkout picks). `prices`: `money(shop_says)`,
    when the caller has it already."""
    rules = [(_number(a), _number(b)) for a, b in COUPON_RULE.findall(shop_says)]
    out: dict[Decimal, Decimal] = {}
    for price in money(shop_says) if prices is None else prices:
        offs = [off for least, off in rules if least is not None and off and price >= least]
        out |= {price - off: price - max(offs) for off in offs}
    return out


def after_coupon(sentence: str, can: dict[Decimal, Decimal]) -> list[Claim]:
    """A price after a coupon that is no price on record less a coupon it reaches (`can`) —
    seen: "用券之后到手299元" of a ¥299 product with a 满299减30 coupon on record, the price
    itself. The claim shows the best-coupon prices nearest the figure said."""
    out: list[Claim] = []
    for m in AFTER_COUPON.finditer(sentence) if can else ():
        n = _number(m.group(1))
        if n is not None and n not in can:
            best = sorted(set(can.values()), key=lambda c: abs(c - n))[:2]
            shown = "、".join(f"{c:f}" for c in best)
            out.append(Claim("after_coupon", f"{m.group(0)}，按查询结果用券后是 {shown}"))
    return out


SUBSIDY_YES = re.compile(r"(?<![不没])(?:能|可以|可)(?:用|申请|享受|参加|参与)?(?:国补|补贴)")
"""A statement that the subsidy applies ("能用国补", "能补贴", "可以申请国补")."""
SUBSIDY_FIGURE = re.compile(r"(?:国补|补贴)[^，,。；（(\d]{0,10}?\d[\d,]*(?:\.\d+)?\s*元")
"""A figure said of the subsidy ("国补后到手2079元", "补贴519.8元"); not a rule quoted with its
terms in brackets ("国家补贴（单件售价不超过6000元…）")."""
SUBSIDY_VERDICT = re.compile(r"(不能|可以)(?:申请国补|享受[^：\n]{1,40}：)")
"""The subsidy check's verdict lines: the national table's (`policy/subsidy.py`: 可以申请国补：… /
不能申请国补：…) and a shop programme's (`policy/programme_quote.py`: 可以享受某某活动：…)."""


def _subsidy_said(sentence: str) -> str | None:
    """The words of a sentence that say the subsidy applies, or what it comes to, with no
    negation in their clause ("能用国补，不过以当地政策为准" says it; "不能用国补" does not)."""
    for m in (SUBSIDY_YES.search(sentence), SUBSIDY_FIGURE.search(sentence)):
        if m is None:
            continue
        start = max(sentence.rfind(c, 0, m.start()) for c in "，,") + 1
        if not NEGATION.search(sentence[start : m.end()]):
            return m.group(0)
    return None


def subsidy_verdicts(shop_says: str) -> set[str]:
    """What the subsidy checks on record said: 可以 and/or 不能 — 不能 too when the check said the
    shop takes no part (`subsidy.NOT_OFFERED`); empty when no check was made."""
    said = {m.group(1) for m in SUBSIDY_VERDICT.finditer(shop_says)}
    return said | ({"不能"} if NOT_OFFERED in shop_says else set())


PURCHASED = re.compile(r"[你您](?:最近|之前|上次|刚才|刚刚|已经|刚)?(?:购买|买|下单|拍|订购)了")
"""A statement of what the shopper bought ("您最近买了…"): only their orders can say so (seen:
"我最近买了什么？" answered with a product from the shop's knowledge, no order looked up)."""


SENTENCE = re.compile(r"[^。！？!?\n；;]+[。！？!?\n；;]?")
CONDITIONAL = re.compile(r"如果|若|假如|一旦|万一|是否|有没有|能否|可否|吗|请问")
"""Sentences that suppose or ask rather than state."""


UNKNOWN = re.compile(r"没有|暂无|无法|不能|不确定|不清楚")


def _unknown(text: str, at: int) -> bool:
    """Whether what starts at `at` is said not to be known ("暂时没有预计送达时间")."""
    return UNKNOWN.search(text[max(0, at - 6) : at]) is not None


def _status_on_record(done: re.Match[str], sentence: str, evidence: str) -> bool:
    """Whether what `done` matched ("已取消") is the status the record gives the order named
    just before it in the sentence — or, naming none, some order's status on record (seen in
    the demo: a listed order's "已取消" stopped as a cancellation claimed done, and "我最近买了
    什么？" was handed over)."""
    said = done.group(0)
    if STATUS.fullmatch(said) is None:
        return False
    before = [m.group(0).lstrip("#") for m in ID.finditer(sentence[: done.start()])]
    lines = evidence.splitlines()
    if before:
        return any(before[-1] in line and said in line for line in lines)
    return any(said in line and ID.search(line) for line in lines)


_ORDER_STATUS = "|".join(OrderStatus)
_STATUS_AFTER_ID = re.compile(rf"^[：:\s]{{0,2}}(?:状态[：:]\s?)?({_ORDER_STATUS})")
_STATUS_LINE = re.compile(rf"^\s*状态[：:]\s*({_ORDER_STATUS})")
_IMPLIES = {
    OrderStatus.DELIVERED: {OrderStatus.SHIPPED},
    OrderStatus.COMPLETED: {OrderStatus.SHIPPED, OrderStatus.DELIVERED},
    OrderStatus.AFTER_SALE: {OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.COMPLETED},
}
"""What an order's status also makes true: a delivered order has shipped."""


def order_statuses(evidence: str) -> dict[str, set[str]]:
    """Each order's status as the record gives it: right after its id ("SO… 待发货", "订单
    SO…：已发货") or on the "状态：" line under it — with what that status also makes true."""
    out: dict[str, set[str]] = {}
    lines = evidence.splitlines()
    for i, line in enumerate(lines):
        for m in ID.finditer(line):
            said = _STATUS_AFTER_ID.match(line[m.end() :])
            if said is None and i + 1 < len(lines) and line[m.end() :].strip() == "":
                said = _STATUS_LINE.match(lines[i + 1])
            if said is not None:
                status = OrderStatus(said.group(1))
                known = out.setdefault(m.group(0).lstrip("#"), set())
                known |= {status, *_IMPLIES.get(status, ())}
    return out


def misstated(sentence: str, statuses: dict[str, set[str]], evidence: str) -> list[Claim]:
    """Order statuses said of the wrong order: each status the sentence gives an order it names
    just before, that the record gives that order no such status (seen in the demo: "SO…是已
    发货订单" of an order 待发货, beside another order that had shipped). A status denied
    between the two ("SO…不是已发货") is not given; one on no record at all is claimed once, as
    a status (`unsupported_claims`)."""
    out = []
    for m in re.finditer(_ORDER_STATUS, sentence):
        named = _named_before(sentence, m.start())
        if named is None or NEGATION.search(sentence[named.end() : m.start()]):
            continue
        oid = named.group(0).lstrip("#")
        known = statuses.get(oid)
        if known and m.group(0) not in known and m.group(0) in evidence:
            out.append(Claim("status", f"{oid} {m.group(0)}"))
    return out


def _named_before(sentence: str, at: int) -> re.Match[str] | None:
    """The order id the sentence names last before `at`: what is said there is said of it."""
    named = list(ID.finditer(sentence[:at]))
    return named[-1] if named else None


IDLE = re.compile(r"(\d+)\s*天(?:都|了|一直)?(?:没有?|未)(?:有)?(?:更新|动静?|变化)")
"""How long a parcel's tracking has not moved, as said ("7 天没有更新", "3天没动")."""


def idle_on_record(evidence: str) -> set[str]:
    """The counts of days the record says a parcel has been idle (not a rule's threshold)."""
    return {m.group(1) for m in IDLE.finditer(evidence) if not _rule_said(evidence, m)}


def idle_misstated(sentence: str, on_record: set[str]) -> list[Claim]:
    """A parcel idle for a number of days the record does not give it (seen on the tuned
    suite: "有3天没有更新" of a parcel the record says is 7 days idle — 3 was the shop's rule
    for when to chase it). Only where the record says how long it has been idle
    (`idle_on_record`)."""
    if not on_record:
        return []
    counted = "、".join(sorted(on_record, key=int))
    return [
        Claim("idle", f"{m.group(0)}，查询结果是 {counted} 天")
        for m in IDLE.finditer(sentence)
        if m.group(1) not in on_record and not _rule_said(sentence, m)
    ]


def _rule_said(sentence: str, m: re.Match[str]) -> bool:
    """The number is a rule's threshold, not the parcel's count ("超过3天没有更新的…")."""
    return bool(re.search(r"(超过|超出|满|以上|达到)\s*$", sentence[: m.start()]))


_BLOCK_START = re.compile(r"^\s*(?:[-•]\s*)?(?:订单号?\s*[：:]?\s*)?$")


def order_blocks(evidence: str) -> dict[str, str]:
    """Each order's part of the record: the lines from one that opens with its id ("订单 SO…：
    已发货", "订单号：SO…", a list's "SO… 待发货 …") up to the next such line. A tracking
    number further along a line opens nothing."""
    out: dict[str, str] = {}
    current = ""
    for line in evidence.splitlines():
        m = ID.search(line)
        if m is not None and _BLOCK_START.match(line[: m.start()]):
            current = m.group(0).lstrip("#")
        if current:
            out[current] = out.get(current, "") + line + "\n"
    return out


def misdated(sentence: str, dated: dict[str, set[tuple[int, int]]]) -> list[Claim]:
    """Days said of the wrong order: a day the sentence gives the order it names just before,
    that the record gives another order and not this one (seen on the dev suite: "SO…（已
    发货），最晚 11月19日 前发出" — the deadline of the other order looked up with it).
    `dated`: the days of each order's part of the record (`order_blocks`)."""
    out = []
    said = [(m.start(), (int(m.group(1)), int(m.group(2)))) for m in MONTH_DAY.finditer(sentence)]
    said += [(m.start(), (int(m.group(2)), int(m.group(3)))) for m in ISO_DAY.finditer(sentence)]
    for at, day in said:
        named = _named_before(sentence, at)
        if named is None:
            continue
        oid = named.group(0).lstrip("#")
        if oid not in dated or day in dated[oid]:
            continue
        if any(day in known for other, known in dated.items() if other != oid):
            out.append(Claim("order_date", f"{oid} {day[0]}月{day[1]}日"))
    return out


def _on_record(oid: str, evidence: str) -> bool:
    """The order is on the shop's record: a line of the evidence names it without denying it
    (a lookup that found it, not one that said it was not found)."""
    return any(oid in line and not DENIED.search(line) for line in evidence.splitlines())


def _options(rows: list[tuple[str, str]], *, gone: bool) -> list[str]:
    """The options of SKU rows (`SKU_ROW.findall`) shown sold out (`gone`) or in stock (or on
    presale), and of no row shown the other way (two products with the same options, one in
    stock, cannot tell which one a reply means)."""
    other = {opts for opts, state in rows if (state in NOT_IN_STOCK) != gone}
    return list(
        dict.fromkeys(
            opts for opts, state in rows if (state in NOT_IN_STOCK) == gone and opts not in other
        )
    )


def _names(options: str, flat: str) -> bool:
    """Every option value of a SKU row (`朱红/42`) is said, each as a word of its own."""
    return all(_said(v, flat) for v in options.split("/"))


def money(text: str) -> set[Decimal]:
    """Every figure a text gives as a sum of money (¥299, 299元, 满99, 运费：10): a price in a reply
    must be one of these, not any number (seen: a second price that was a shoe size)."""
    found = [a or b for a, b in AMOUNT.findall(text)] + [a or b for a, b in PRICED.findall(text)]
    out = {_number(f) for f in found}
    return {n for n in out if n is not None}


def _number(text: str) -> Decimal | None:
    try:
        return Decimal(text.replace(",", "")).normalize()
    except InvalidOperation:
        return None


def numbers(text: str) -> set[Decimal]:
    """Every figure in a text, normalised so that 299, 299.00 and 2,99 compare equal."""
    out = {_number(m) for m in NUMBER.findall(text)}
    return {n for n in out if n is not None}


def _spec(m: re.Match[str]) -> tuple[Decimal | None, str]:
    unit = m.group(0)[len(m.group(1)) :].strip().lower()
    return _number(m.group(1)), UNITS.get(unit, unit)


def specs(text: str) -> set[tuple[Decimal | None, str]]:
    """Every figure with a unit in a text, as (figure, unit): "5600mAh" and "5600 毫安时" are one."""
    return {_spec(m) for m in SPEC.finditer(text.replace(",", ""))}


def days(text: str) -> set[tuple[int, int]]:
    """Every (month, day) a text mentions, in 11月22日 or 2026-11-22 form."""
    found = {(int(m), int(d)) for m, d in MONTH_DAY.findall(text)}
    found |= {(int(m), int(d)) for _, m, d in ISO_DAY.findall(text)}
    return found


def statements(reply: str) -> Iterable[str]:
    """The sentences of a reply that state something (not questions or suppositions)."""
    for s in SENTENCE.findall(reply):
        s = s.strip()
        if s and not s.endswith(("?", "？")) and not CONDITIONAL.search(s):
            yield s


NEGATABLE = re.compile(
    r"(?<![不无没免未别])(需要|支持|可以|能够|包含|提供|收取|允许)([\u4e00-\u9fff]{2})"
)
"""A statement that something is needed, offered or allowed ("需要安装", "支持退换")."""
_NEGATORS = ("不", "无需", "不用", "无须", "没有", "未", "无法")


def _denied_or_asked(text: str, at: int, size: int) -> bool:
    """Whether the phrase at `at` is denied ("不需要安装") or asked ("需要安装吗？", an FAQ's
    own question) rather than affirmed."""
    before, after = text[max(0, at - 2) : at], text[at + size : at + size + 3]
    return (
        before.endswith(_NEGATORS)
        or before == "是否"
        or bool(re.match(r"[^，。；,;]{0,1}(?:吗|么|？|\?)", after))
    )


def negated_on_record(sentence: str, shop_says: str) -> list[str]:
    """What `sentence` affirms that the shop's word only ever denies: "X需要安装" where the
    record says "X不需要安装" and "无需安装", and nowhere "需要安装" without a 不 before it
    (seen on the dev suite: "…需要安装，送货入户" from exactly those two entries)."""
    out = []
    for m in NEGATABLE.finditer(sentence):
        verb, what = m.group(1), m.group(2)
        phrase = verb + what
        denials = [n + phrase for n in _NEGATORS] + [n + what for n in ("无需", "无须", "不用")]
        if not any(d in shop_says for d in denials):
            continue
        starts = [i for i in range(len(shop_says)) if shop_says.startswith(phrase, i)]
        if all(_denied_or_asked(shop_says, i, len(phrase)) for i in starts):
            out.append(phrase)
    return out


def unsupported_claims(
    reply: str,
    evidence: str,
    *,
    today: date | None = None,
    own: Iterable[str] = (),
    changed: bool = False,
    merchant: str | None = None,
) -> list[Claim]:
    """The claims in `reply` that `evidence` does not back. `today` backs its own date;
    `own` are strings the shopper may always see (their own phone number); `changed` says a
    change was made (or submitted) for this shopper, which a "done" claim may be about;
    `merchant` is the part of the evidence that is the shop's own word (default: all of it)."""
    shop_says = evidence if merchant is None else merchant
    figures = numbers(evidence)
    prices = money(evidence)
    shop_prices = prices if merchant is None else money(shop_says)
    measured = specs(evidence)
    shop_flat = re.sub(r"\s", "", shop_says).lower()
    known_days = days(evidence) | ({(today.month, today.day)} if today else set())
    by_field = fields(shop_says)
    statuses = order_statuses(shop_says)
    dated = {oid: days(text) for oid, text in order_blocks(shop_says).items()}
    idle = idle_on_record(shop_says)
    ordered = ID.search(shop_says) is not None  # an order of theirs was looked up
    couponless = NO_COUPON.search(shop_says) is not None
    discounted = coupon_prices(shop_says, shop_prices)
    couponed = COUPON_RULE.search(shop_says) is not None
    subsidy = subsidy_verdicts(shop_says)  # 不能 only: it was checked and applies to none of it
    mine = set(own)
    out: list[Claim] = []

    def need_figure(kind: str, text: str, figure: str, pool: set[Decimal] = figures) -> None:
        n = _number(figure)
        if n is not None and n not in pool:
            out.append(Claim(kind, text))

    for oid in dict.fromkeys(ID.findall(reply)):
        if oid.lstrip("#") not in evidence:
            out.append(Claim("id", oid))
    for phone in dict.fromkeys(PHONE.findall(reply)):
        if phone not in evidence and phone not in mine:
            out.append(Claim("phone", phone))
    evidence_flat = re.sub(r"\s", "", evidence)
    for street in dict.fromkeys(STREET.findall(re.sub(r"\s", "", reply))):
        # the street part must be on record: 北京市海淀区中关村大街1号 → 中关村大街1号
        if _DIVISION.sub("", street) not in evidence_flat:
            out.append(Claim("address", street))
    rows = SKU_ROW.findall(evidence)
    book = price_book(shop_says)
    shop_rows = SKU_ROW.findall(shop_says)
    sold_out = _options(rows, gone=True)
    stocked = _options(shop_rows, gone=False)
    says_gone = bool(OUT_OF_STOCK.search(shop_says)) or any(
        state in NOT_IN_STOCK for _, state in shop_rows
    )
    stock_known = bool(shop_rows) or STOCK_ON_RECORD.search(shop_says) is not None
    asked = [row for block in ASKED_ROWS.findall(shop_says) for row in SKU_ROW.findall(block)]
    asked_gone = bool(asked) and all(state in NOT_IN_STOCK for _, state in asked)
    for sentence in statements(reply):
        plain = sentence.replace(",", "")
        flat = re.sub(r"\s", "", sentence).lower()
        if sold_out and IN_STOCK.search(sentence) and not NEGATION.search(sentence):
            for options in sold_out:
                if _names(options, flat):
                    out.append(Claim("stock", options))
        if (in_stock := STOCKED.search(sentence)) and not NEGATION.search(sentence):
            if not stock_known:
                out.append(Claim("stock_unchecked", in_stock.group(0)))
            elif asked_gone and not any(_names(options, flat) for options, _ in rows):
                # in stock, naming no option, when every option they asked about is gone
                out.extend(Claim("stock", options) for options, _ in asked)
        if counts := {int(n) for n in COUNT.findall(sentence)}:
            named = [state for opts, state in rows if _names(opts, flat)]
            have = {int(state[2:]) for state in named if state.startswith("库存")}
            for n in sorted(counts - have) if named else ():
                out.append(Claim("stock", f"库存{n}"))
        if gone := OUT_OF_STOCK.search(sentence):
            if not says_gone:
                out.append(Claim("sold_out", gone.group(0)))
            for options in stocked:
                if _names(options, flat):
                    out.append(Claim("sold_out", options))
        pool = shop_prices if COMMIT.search(sentence) else prices
        if not COMMIT.search(sentence):  # a refund is what was paid, not today's price
            out += misattributed(sentence, book)
        out += impure(sentence, shop_says)
        out += misbound(sentence, by_field)
        out += after_coupon(plain, discounted)
        if discounted and AFTER_COUPON.search(plain):
            pool = pool | set(discounted)  # a price less a coupon is on record as both
        if (none := NO_COUPON.search(sentence)) and not couponless:
            out.append(Claim("coupon", none.group(0)))
        elif (
            (some := HAS_COUPON.search(sentence)) and not couponed and not NEGATION.search(sentence)
        ):
            out.append(Claim("coupon", some.group(0)))
        if yes := _subsidy_said(plain):
            if subsidy == {"不能"}:
                out.append(Claim("subsidy", yes))
            elif not subsidy and shop_rows:  # said of a product on record with no check made:
                # the check settles it from the product's price and grade (seen on the tuned
                # suite: "能用国补" of a ¥6,499 phone, the national programme capped at ¥6,000)
                out.append(Claim("subsidy_unchecked", yes))
        if (bought := PURCHASED.search(sentence)) and not ordered:
            out.append(Claim("purchase", bought.group(0)))
        for m in AMOUNT.finditer(plain):
            need_figure("amount", m.group(0).strip(), m.group(1) or m.group(2), pool)
        if AFFIRM.search(sentence) and not NEGATION.search(sentence):
            for model in dict.fromkeys(MODEL.findall(sentence)):
                if re.sub(r"\s", "", model).lower() not in shop_flat:
                    out.append(Claim("model", model))
        for phrase in negated_on_record(sentence, shop_says):
            out.append(Claim("negated", phrase))
        for m in PERCENT.finditer(plain):
            need_figure("percent", m.group(0).strip(), m.group(1) or m.group(2))
        for m in WARRANTY.finditer(plain):
            figure = m.group(1) or m.group(2)
            need_figure("warranty", m.group(0), CN_DIGITS.get(figure, figure))
        for rating in RATING.findall(plain):
            if rating.lower() not in shop_flat:  # shop_flat is lowercased already
                out.append(Claim("spec", rating))
        for m in SPEC.finditer(plain):
            if _spec(m) not in measured:
                out.append(Claim("spec", m.group(0)))
        for m in WINDOW.finditer(plain):
            need_figure("window", m.group(0), m.group(1))
        for m in PROMISE.finditer(plain):
            when = m.group(1)
            figure = NUMBER.search(when)
            backed = (_number(figure.group(0)) in figures) if figure else when in evidence
            if not backed:
                out.append(Claim("promise", m.group(0)))
        arrival = ARRIVAL.search(plain)
        if arrival and not ESTIMATE.search(evidence) and not _unknown(plain, arrival.start()):
            out.append(Claim("promise", arrival.group(0)))
        for md in days(plain):
            if md not in known_days:
                out.append(Claim("date", f"{md[0]}月{md[1]}日"))
        if DENIED.search(sentence):
            for oid in dict.fromkeys(ID.findall(sentence)):
                if _on_record(oid.lstrip("#"), shop_says):
                    out.append(Claim("denied", oid))
        done = DONE.search(sentence)
        if done and not changed and not _status_on_record(done, sentence, evidence):
            out.append(Claim("done", done.group(0)))
        for status in dict.fromkeys(STATUS.findall(sentence)):
            if status not in evidence:
                out.append(Claim("status", status))
        if not changed:
            out += misstated(sentence, statuses, evidence)
        if len(dated) > 1:
            out += misdated(sentence, dated)
        out += idle_misstated(sentence, idle)
    return list(dict.fromkeys(out))
