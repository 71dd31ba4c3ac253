"""What the shopper means in an after-sales request: the reason argument as they gave it, the
words the policy's rules read, and the order lines they mean."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated

from pydantic import AfterValidator, Field

from xiaoer.domain.models import Order, OrderLine, Product
from xiaoer.knowledge.text import cjk_bigrams
from xiaoer.policy import rules
from xiaoer.tools.base import ToolResult
from xiaoer.tools.deps import TurnDeps
from xiaoer.tools.format import line_text, options_text
from xiaoer.tools.orders import OrderArgs

REASON_CHARS = 100
type Reason = Annotated[str, AfterValidator(lambda text: text[:REASON_CHARS])]
REASON = "顾客说的原因"
ITEM = "多件商品时，顾客要办理的那件商品名称，可不填"


class ReasonArgs(OrderArgs):
    reason: Reason = Field("", description=REASON)


def texts(deps: TurnDeps, reason: str, order: Order) -> rules.Said:
    """What the rules read for reasons and conditions: the shopper's own words first. A reason
    the model wrote counts only as far as the shopper said it too (the model cannot make a
    return a "quality problem" by saying so). Whether the reason is a fault with the goods is
    what the understanding step read (`TurnDeps.stated_fault`), when it read a reason; else the
    merchant's words, outside the order's item titles."""
    said = [*deps.said, reason] if reason and deps.shopper_said(reason) else list(deps.said)
    return rules.Said.of(said, deps.stated_fault(), [ln.title for ln in order.lines])


def items_text(lines: Sequence[OrderLine]) -> str:
    return "；".join(line_text(ln) for ln in lines)


def _bigrams(text: str) -> set[str]:
    """Chinese character bigrams plus the Latin words (three letters or more) of a text."""
    return cjk_bigrams(text) | {w.lower() for w in re.findall(r"[A-Za-z]{3,}", text)}


def pick_lines(order: Order, item: str, said: Sequence[str]) -> list[OrderLine] | None:
    """The order lines the shopper means: all of a one-line order; else the lines whose title
    shares the most Chinese bigrams with the item text (or, failing that, the shopper's latest
    words, then all of them); None if that does not single out fewer than all lines."""
    if len(order.lines) == 1:
        return list(order.lines)
    sources = [item] if item else []
    sources += [said[-1]] if said else []
    sources.append(" ".join(said))
    for source in sources:
        grams = _bigrams(source)
        scores = [
            (len(_bigrams(ln.title + options_text(ln.options)) & grams), ln) for ln in order.lines
        ]
        best = max(score for score, _ in scores)
        hits = [ln for score, ln in scores if score == best]
        if best > 0 and len(hits) < len(order.lines):
            return hits
    return None


def which_item(order: Order) -> ToolResult:
    rows = "\n".join(f"- {line_text(ln)}" for ln in order.lines)
    return ToolResult(
        True,
        f"订单 {order.id} 有多件商品，需要顾客说明是哪一件。",
        {"order_id": order.id, "asks": "item"},
        f"订单 {order.id} 里有这几件商品：\n{rows}\n请问您要办理的是哪一件？",
    )


async def products_of(deps: TurnDeps, lines: Sequence[OrderLine]) -> dict[str, Product]:
    out: dict[str, Product] = {}
    for ln in lines:
        if ln.product_id not in out and (p := await deps.commerce.get_product(ln.product_id)):
            out[ln.product_id] = p
    return out
