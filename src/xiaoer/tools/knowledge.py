"""`search_knowledge`: the shop's own knowledge, with a source id on every snippet."""

from __future__ import annotations

from collections.abc import Sequence

from xiaoer.knowledge import Hit, cite
from xiaoer.tools.args import ToolArgs, asked
from xiaoer.tools.base import ToolResult, typed
from xiaoer.tools.deps import TurnDeps
from xiaoer.tools.format import squeezed

SNIPPETS = 4
SNIPPET_CHARS = 220

RELEVANT_COSINE = 0.85
"""The top snippet's e5 cosine above which code hands the snippets to the model unasked. Read
off the demo chats' shopper questions: 95 % (stride) and 88 % (volt) of the knowledge questions
reach it — but so do order questions, which is why the turn gates those out by their wording."""

MARGIN = 0.05
"""Snippets whose e5 cosine is more than this below the best one's are not shown, and one that
shares no word with the question must be within `LEXICAL_MARGIN`. Seen end to end: asked when
a pick-up point closes, the model got the right passage first and a TV's spec fourth (cosine
0.871 vs 0.926, no shared word), and answered about the TV."""
LEXICAL_MARGIN = 0.02

UNSURE = "这个我暂时无法确认，可以帮您转人工核实"
"""What the model is told to say when the material has no answer. Worded for the shopper, so a
model that repeats it word for word sends a good reply (it did repeat the older "告诉顾客暂时无法
确认，可以帮他转人工", which the leak check then stopped)."""
NOTHING = f"店铺资料里没有找到相关内容。不要猜，照实对顾客说：「{UNSURE}」。"


def shown(hits: list[Hit]) -> list[Hit]:
    """The hits worth showing the model: close to the best in meaning (see `MARGIN`)."""
    top = max(h.cosine for h in hits)
    keep = [
        h
        for h in hits
        if h.cosine >= top - MARGIN and (h.bm25 > 0 or h.cosine >= top - LEXICAL_MARGIN)
    ]
    return keep or hits[:1]


def is_relevant(hits: list[Hit]) -> bool:
    """Whether the hits answer the question rather than only resemble it: e5 rates greetings
    close to everything, so a relevant hit also shares words with it."""
    top = max(h.cosine for h in hits)
    return any(h.bm25 > 0 for h in hits) and (
        top >= RELEVANT_COSINE or any(h.passage.kind == "fact" for h in hits)
    )


HEADER = "店铺资料（只根据这些内容回答；资料没写的就说不确定，不要编）："
NOTES = (HEADER, NOTHING)
"""Instructions riding in this tool's results, removed when a result is shown to the shopper."""
SECRETS = (HEADER, NOTHING[NOTHING.index("不要猜") : NOTHING.index("「") + 1])
"""The instructions in them, which a reply must not repeat; "店铺资料里没有找到相关内容" and the
sample answer it may."""


def render(hits: list[Hit]) -> str:
    """What the model reads: numbered snippets with their source, the most relevant first."""
    lines = [HEADER]
    for i, hit in enumerate(hits, start=1):
        p = hit.passage
        text = " ".join(p.text.split())[:SNIPPET_CHARS]
        title = p.title.split(" > ")[-1] if p.title else p.kind
        lines.append(f"[{i}] {title}：{text}")
    return "\n".join(lines)


def unknown_to(shown: str, known: str) -> str:
    """A rendered result without the snippets `known` (another lookup's result the model also
    reads) already says word for word; "" when none is left. Seen: a product question got the
    product's attributes twice, as mined snippets and in its record."""
    lines = shown.split("\n")
    if lines[0] != HEADER:
        return shown  # not a list of snippets
    have = squeezed(known)
    snippets = [x for x in lines[1:] if squeezed(x.split("：", 1)[-1]) not in have]
    return "\n".join([HEADER, *snippets]) if snippets else ""


class KnowledgeArgs(ToolArgs):
    query: str = asked("顾客的问题，用顾客的原话")
    """Missing: the shopper's last message."""


async def search_knowledge(deps: TurnDeps, args: KnowledgeArgs) -> ToolResult:
    query = args.query or (deps.said[-1] if deps.said else "")
    if deps.knowledge is None or not query:
        return ToolResult(False, NOTHING)
    # A question that names one product gets that product's facts (and the general ones),
    # never a similar product's.
    product = await deps.knowledge.product_named(deps.shop.id, query)
    hits = await deps.knowledge.search(deps.shop.id, query, k=SNIPPETS, product_id=product)
    if not hits:
        return ToolResult(True, NOTHING, {"citations": []})
    return _found(shown(hits), max(h.cosine for h in hits))


async def on_matter(deps: TurnDeps, query: str, unlike: Sequence[str]) -> ToolResult | None:
    """The shop's knowledge on a matter code ran into, worded as `query`: the relevant snippets
    closer in meaning to it than to each of `unlike`, the neighbouring matters a shop's nearest
    entries may be about instead; None when none is left. Seen on shops' own data: the nearest
    entry to a parcel that stopped moving was the rule for orders not yet shipped, quoted for a
    parcel on its way; on a shop with no entry on it, the nearest two were on goods that arrived
    spoilt, quoted — and copied, header and all — for a parcel not yet arrived."""
    if deps.knowledge is None:
        return None
    hits = await deps.knowledge.search(deps.shop.id, query, k=SNIPPETS)
    if not hits:
        return None
    top = max(h.cosine for h in hits)
    near: dict[str, float] = {}
    for matter in unlike:
        for h in await deps.knowledge.search(deps.shop.id, matter, k=SNIPPETS):
            near[h.passage.id] = max(h.cosine, near.get(h.passage.id, -1.0))
    hits = [h for h in shown(hits) if h.cosine > near.get(h.passage.id, -1.0)]
    if not hits or not is_relevant(hits):
        return None
    return _found(hits, top)


def _found(hits: list[Hit], top: float) -> ToolResult:
    return ToolResult(
        True,
        render(hits),
        {
            "citations": [cite(h).as_dict() for h in hits],
            "relevant": is_relevant(hits),
            "shares_words": any(h.bm25 > 0 for h in hits),
            "top_cosine": round(top, 4),
        },
    )


KNOWLEDGE_TOOLS = (
    typed(
        "search_knowledge",
        "查店铺资料：发货、运费、退换货和售后规则、保修、安装、会员、商品材质和参数等说明。",
        search_knowledge,
        answer_hint="，只说资料里写了的",
    ),
)
