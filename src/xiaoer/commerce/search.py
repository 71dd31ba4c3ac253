"""Product matching shared by every backend that holds its catalog itself.

Keyword matching is deliberately simple here (terms, then character bigrams, over title,
category, brand, tags and attributes); hybrid retrieval arrives with the knowledge layer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from xiaoer.commerce.base import ProductHit, ProductQuery
from xiaoer.domain.models import Product, Sku

_SPLIT = re.compile(r"[\s,，。.、;；/|]+")
_SIZE_KEYS = ("尺码", "码数", "尺寸", "size")
_COLOR_KEYS = ("颜色", "配色", "color")
# Words shoppers add that name no product ("有没有 … 的 …"); dropping them keeps matching honest.
_FILLER = (
    "有没有",
    "有吗",
    "推荐",
    "一下",
    "一款",
    "一双",
    "一件",
    "请问",
    "想要",
    "想买",
    "的",
    "款",
)


def _terms(keyword: str) -> list[str]:
    text = keyword.lower()
    for word in _FILLER:
        text = text.replace(word, " ")
    return [t for t in _SPLIT.split(text) if t]


@dataclass(frozen=True, slots=True)
class Entry:
    """A product with the text a keyword is matched against, made once (`Catalogs` keeps them
    across searches)."""

    product: Product
    hay: str
    """Title, category, brand, tags and the text attributes, lowercased."""
    head: str
    """Title and category, lowercased: a term found there counts more."""


def entry(product: Product) -> Entry:
    parts = [product.title, product.category, product.brand, *product.tags]
    parts += [f"{k}{v}" for k, v in product.attributes.items() if isinstance(v, str)]
    return Entry(product, " ".join(parts).lower(), (product.title + product.category).lower())


def _bigrams(term: str) -> list[str]:
    return [term[i : i + 2] for i in range(len(term) - 1)] or [term]


def _score(item: Entry, terms: list[str]) -> float:
    """1.0 per whole term found (1.5 in the title or category); partial credit for character
    bigrams; 0 when nothing matches."""
    if not terms:
        return 1.0
    score = 0.0
    for term in terms:
        if term in item.hay:
            score += 1.5 if term in item.head else 1.0
            continue
        grams = _bigrams(term)
        hits = sum(1 for g in grams if g in item.hay)
        if hits * 2 >= len(grams):
            score += 0.5 * hits / len(grams)
    return score


def _option(sku: Sku, keys: Iterable[str]) -> str:
    for key in keys:
        for name, value in sku.options.items():
            if name.lower() == key:
                return str(value)
    return ""


_UNIT_AFTER = re.compile(r"(?<=[0-9A-Za-z])\s*[\u4e00-\u9fff]{1,2}$")


def strip_unit(text: str) -> str:
    """A value without the Chinese unit or measure word a shopper puts after a figure or letter
    ("300元" → "300"); words without a figure or letter before them stay."""
    return _UNIT_AFTER.sub("", text.strip())


def named_value(text: str, values: Iterable[str]) -> str | None:
    """The longest of `values` that `text` names as a whole token (case-insensitive): a value
    that starts or ends with a letter or digit must not run on into more of them, so "420" or
    "42.5" does not name 42 and "AB" does not name B. None when no value is named."""
    for value in sorted({v for v in values if v}, key=lambda v: (-len(v), v)):
        pattern = _spaced(value)
        if value[0].isascii() and value[0].isalnum():
            pattern = r"(?<![A-Za-z0-9.])" + pattern
        if value[-1].isascii() and value[-1].isalnum():
            pattern += r"(?![A-Za-z0-9]|\.\d)"
        if re.search(pattern, text, re.IGNORECASE):
            return value
    return _loosely_named(text, values)


def _spaced(value: str) -> str:
    """A pattern for `value` that lets a shopper put a space, or none, where a Latin letter or
    figure meets a Chinese character, or where the value has one ("A 型" and "A型" alike)."""
    out: list[str] = []
    for i, ch in enumerate(value):
        if ch.isspace():
            if out and out[-1] != r"\s*":
                out.append(r"\s*")
            continue
        if i and out and out[-1] != r"\s*" and _latin(value[i - 1]) != _latin(ch):
            out.append(r"\s*")
        out.append(re.escape(ch))
    return "".join(out)


def _latin(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


_FIGURE_UNIT = re.compile(r"^(\d+(?:\.\d+)?)\s*([\u4e00-\u9fff]{1,3})$")
_HUE_SUFFIX = "色"


def _loosely_named(text: str, values: Iterable[str]) -> str | None:
    """The one value the text names in a shopper's usual short form, when it names none as the
    catalogue writes it: a figure with the unit's first or last character (a value "N英寸" named
    as "N 寸"), or a colour said as its last character and 色 (a value "…X" or "…X色" named as
    "X色"). Only when exactly one value fits: two values ending in X make "X色" name neither."""
    fits: set[str] = set()
    for value in {v for v in values if v}:
        if m := _FIGURE_UNIT.match(value):
            figure, unit = m.groups()
            short = "|".join(map(re.escape, {unit, unit[0], unit[-1]}))
            if re.search(rf"(?<![\d.]){re.escape(figure)}\s*(?:{short})", text):
                fits.add(value)
            continue
        stem = value.removesuffix(_HUE_SUFFIX)
        if len(stem) >= 2 and "\u4e00" <= stem[-1] <= "\u9fff" and stem[-1] + _HUE_SUFFIX in text:
            fits.add(value)
    return fits.pop() if len(fits) == 1 else None


def _norm_size(text: str) -> str:
    return strip_unit(text).lower()


def sku_matches(sku: Sku, query: ProductQuery) -> bool:
    if query.in_stock_only and not sku.available:  # a discontinued SKU never is
        return False
    if query.max_price_fen is not None and sku.price_fen > query.max_price_fen:
        return False
    if query.min_price_fen is not None and sku.price_fen < query.min_price_fen:
        return False
    if query.size and _norm_size(_option(sku, _SIZE_KEYS)) != _norm_size(query.size):
        return False
    return not (query.color and query.color not in _option(sku, _COLOR_KEYS))


def ranked(entries: Iterable[Entry], query: ProductQuery) -> list[tuple[Product, float]]:
    """The products the category and keyword match, best first (ties by id), before their SKUs
    are looked at: a hit is one of these with a SKU that matches (`hit`), in this order."""
    terms = _terms(query.keyword)
    scored: list[tuple[Product, float]] = []
    for item in entries:
        if query.category and query.category not in item.product.category:
            continue
        score = _score(item, terms)
        if score > 0:
            scored.append((item.product, score))
    scored.sort(key=lambda ps: (-ps[1], ps[0].id))
    return scored


def hit(product: Product, score: float, query: ProductQuery) -> ProductHit | None:
    skus = tuple(s.id for s in product.skus if sku_matches(s, query))
    return ProductHit(product, skus, score) if skus else None


def search(products: Iterable[Product], query: ProductQuery) -> list[ProductHit]:
    found = ranked(map(entry, products), query)
    hits = [h for p, score in found if (h := hit(p, score, query))]
    return hits[: max(1, query.limit)]
