"""From what the model names to ids: order lines by product name and options, and the option
(SKU) of the same product it wants instead.

The model never has to copy an id right: it may write "Running Shoes (size 9, white)" for a line
and "blue, size M" for a new option, and these map them onto the order's and the product's own
records — only when a single record fits best; anything else is left as written, for the caller
to reject with its "not found" message.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from xiaoer.domain.models import Order, OrderLine, Product, Sku


def _in(value: object, text: str) -> bool:
    """`value` named in the (lowercased) `text` as a whole word: size "S" is not in "steel"."""
    word = str(value).strip().lower()
    return bool(word) and re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text) is not None


def _contradicts(sku: Sku, named: dict[str, set[str]]) -> bool:
    """The text names values of one of the SKU's options, and not the SKU's value."""
    return any(named.get(k) and v not in named[k] for k, v in sku.options.items())


def resolve_lines(order: Order, given: Sequence[object]) -> list[str]:
    """SKU ids of the order's lines for each given value: an id of a line stays; a text that
    contains a line's title becomes that line's id when, among the lines it names, one has the
    most option values in the text. Anything else is left as given."""
    ids = {line.sku_id for line in order.lines}
    out: list[str] = []
    for value in given:
        text = str(value).strip()
        if text in ids:
            out.append(text)
            continue
        lowered = text.lower()
        ranked = sorted(
            {
                (sum(_in(v, lowered) for v in line.options.values()), line.sku_id)
                for line in order.lines
                if line.title and line.title.lower() in lowered
            }
        )
        unique = bool(ranked) and (len(ranked) == 1 or ranked[-1][0] > ranked[-2][0])
        out.append(ranked[-1][1] if unique else text)
    return out


def resolve_option(line: OrderLine, product: Product, given: object) -> str:
    """The SKU id of `product` that `given` means for `line`: an id of the product stays; a text
    of option values ("stainless steel, drip") becomes the in-stock SKU not at odds with it (one
    whose size the text names another of, say) with the most of those values in it — on a tie,
    one other than the line's own ("from white to black"), then the one sharing most options
    with the line — when that SKU is unique and matches at least one value. Option names in the
    text ("size", "bagged/bagless") are not read as values. Else `given` as a string."""
    text = str(given).strip()
    if any(sku.id == text for sku in product.skus):
        return text
    lowered = text.lower()
    values = " ".join(str(v).lower() for sku in product.skus for v in sku.options.values())
    for key in {k.lower() for sku in product.skus for k in sku.options}:
        if key not in values:  # "brand" stays when a value is "Brand A"
            lowered = lowered.replace(key, " ")
    named: dict[str, set[str]] = {}
    for sku in product.skus:
        for key, value in sku.options.items():
            if _in(value, lowered):
                named.setdefault(key, set()).add(value)
    ranked = sorted(
        (
            sum(_in(v, lowered) for v in sku.options.values()),
            sku.id != line.sku_id,
            sum(line.options.get(k) == v for k, v in sku.options.items()),
            sku.id,
        )
        for sku in product.skus
        if sku.available and not _contradicts(sku, named)
    )
    if not ranked or ranked[-1][0] == 0:
        return text
    if len(ranked) > 1 and ranked[-2][:3] == ranked[-1][:3]:
        return text
    return ranked[-1][3]


def lines_of(order: Order, sku_ids: Sequence[str]) -> tuple[list[OrderLine], list[str]]:
    """The order's lines for `sku_ids`, a repeated id taking the next line with that SKU; and
    the ids no (remaining) line has."""
    taken: set[int] = set()
    lines: list[OrderLine] = []
    missing: list[str] = []
    for sku_id in sku_ids:
        index = next(
            (i for i, ln in enumerate(order.lines) if ln.sku_id == sku_id and i not in taken),
            None,
        )
        if index is None:
            missing.append(sku_id)
        else:
            taken.add(index)
            lines.append(order.lines[index])
    return lines, missing


def sku_of(product: Product | None, sku_id: str) -> Sku | None:
    if product is None:
        return None
    return next((s for s in product.skus if s.id == sku_id), None)
