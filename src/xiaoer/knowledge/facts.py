"""Product fact mining: the LLM reads a product's title and description and lists the facts a
shopper could ask about (materials, fit, use, what's in the box, warranty, installation …).

The model only proposes; code keeps a fact only when its wording is found in the field it
names (most of its character bigrams and every figure appear there), so a made-up fact — the
1.5B model's usual failure — never reaches shoppers. Attributes are facts already (one
passage per attribute, see `catalog.product_passages`); mining adds what only the prose says.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from xiaoer.domain.models import Product
from xiaoer.knowledge.index import Passage

type Ask = Callable[[str, str], Awaitable[str]]
"""(system prompt, user prompt) → the model's text."""

LABELS = ("材质", "尺码", "适用场景", "包装清单", "保修", "安装", "功能", "参数", "注意事项")
SYSTEM = (
    "你是电商商品资料整理员。从商品资料中提取顾客可能会问的事实，每行一条，格式："
    "类别｜事实｜来源。类别只能是：" + "、".join(LABELS) + "。来源只能是：标题、描述。"
    "事实要用资料里的原话，资料没写的不要写，最多8条，不要其他内容。"
)
CJK = re.compile(r"[\u3400-\u9fff]")
FIGURE = re.compile(r"\d+(?:\.\d+)?")
SUPPORT = 0.7
"""Share of a fact's CJK bigrams that must appear in its source field."""


@dataclass
class FactMining:
    products: int = 0
    proposed: int = 0
    kept: int = 0
    dropped: list[str] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)


def supported(fact: str, source: str) -> bool:
    """Whether the fact's wording and every figure in it are found in the source text."""
    text = re.sub(r"\s+", "", fact)
    src = re.sub(r"\s+", "", source)
    grams = {
        text[i : i + 2]
        for i in range(len(text) - 1)
        if CJK.match(text[i]) and CJK.match(text[i + 1])
    }
    if not grams:
        return False
    found = sum(1 for g in grams if g in src) / len(grams)
    return found >= SUPPORT and all(f in src for f in FIGURE.findall(text))


def parse(reply: str) -> list[tuple[str, str, str]]:
    out = []
    for line in reply.splitlines():
        parts = [p.strip(" -*·。") for p in re.split(r"[｜|]", line)]
        if len(parts) >= 3 and parts[0] in LABELS and parts[1]:
            out.append((parts[0], parts[1], parts[2]))
    return out


async def mine_product_facts(
    ask: Ask, products: Sequence[Product], progress: Callable[[int, int], None] | None = None
) -> FactMining:
    result = FactMining()
    for n, product in enumerate(products, start=1):
        if progress is not None:
            progress(n - 1, len(products))
        if not product.description.strip():
            continue
        result.products += 1
        reply = await ask(SYSTEM, f"标题：{product.title}\n描述：{product.description}")
        seen: set[str] = set()
        for label, fact, source in parse(reply):
            result.proposed += 1
            field_name = "title" if source.startswith("标题") else "description"
            text = product.title if field_name == "title" else product.description
            if fact in seen or not supported(fact, text):
                result.dropped.append(f"{product.id} {label}｜{fact}")
                continue
            seen.add(fact)
            result.kept += 1
            result.passages.append(
                Passage(
                    id=f"product:{product.id}:fact{len(seen)}",
                    source_id="catalog-facts",
                    kind="product",
                    title=product.title,
                    text=f"{label}：{fact}",
                    product_id=product.id,
                    field=field_name,
                )
            )
    if progress is not None:
        progress(len(products), len(products))
    return result
