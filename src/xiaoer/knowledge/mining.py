"""Mining past human-agent chats for FAQ candidates.

1. Pairs: each shopper question with the agent's reply that follows it. Replies about one
   shopper's order (order numbers, tracking numbers, "已为您…") are not shop knowledge and
   are dropped.
2. Groups: questions about the same product (or none) whose embeddings are close, across chats.
3. Best answer per group: replies that deflect ("我帮您问问", "不清楚"), come from a chat the
   shopper rated 1-2, or say almost nothing are never picked; among the rest, the one that
   agrees most with the group's other answers (a lone wrong answer disagrees with the others).
   A group whose every answer was held back yields no candidate.

Candidates wait for the merchant's review; nothing mined reaches shoppers before approval.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from xiaoer.domain.models import Product
from xiaoer.knowledge.embed import Embedder

GREETING = re.compile(
    r"^(在吗|在不在|您好|你好|hi|hello|哈喽|有人吗|谢谢|感谢|好的|好滴|好嘞|嗯|ok|明白了|知道了|辛苦了"
    r"|了解|收到|亲|啦|哈|呀|[，,。.！!？?~～\s])+$",
    re.I,
)
ORDER_SPECIFIC = re.compile(
    r"[A-Z]{2,4}\d{6,}|\d{10,}|已为您|已经为您|帮您(登记|提交|申请|备注|催|改)|您的订单|这笔订单|单号"
    r"|您\d{1,2}月\d{1,2}日|\d{1,2}月\d{1,2}日.{0,8}(签收|发出)|(已经|已)(帮您|给您|为您|把)|我已经"
)
QUESTIONISH = re.compile(
    r"[吗嘛么？?]|多少|多久|多大|几|怎|咋|啥|什么|能不能|可不可以|可以|有没有|哪|是不是|会不会|还是|是否|能否|要不要|需不需要|what|how|can|do you",
    re.I,
)
SMALL_TALK = re.compile(
    r"^[^，。！？,.!?]{0,6}(不客气|祝您|再次抱歉|感谢您的耐心|有问题随时|还有其他问题)"
)
DEFLECT = re.compile(
    r"稍等|我(帮您|去|来)?(问问|问一下|确认一下|核实)|不(太)?清楚|不确定|转人工|问下同事|不知道"
)
SIMILAR = 0.95
"""Question cosine (e5-small, product names masked) to join a group. Checked by hand on the demo
chats: at 0.92 unlike questions merged ("能发顺丰吗" with "能放驿站吗" and "国补和优惠券能一起用吗");
at 0.95, 30 of the 35 candidates were answers a merchant could approve as they stand."""


@dataclass(frozen=True, slots=True)
class Pair:
    chat_id: str
    question: str
    answer: str
    rating: int | None
    product_id: str | None
    flags: tuple[str, ...] = ()


@dataclass
class Candidate:
    question: str
    answer: str
    product_id: str | None
    chat_ids: list[str]
    variants: list[str] = field(default_factory=list)
    score: float = 0.0
    answer_chat: str = ""


@dataclass
class MiningReport:
    chats: int = 0
    pairs: int = 0
    order_specific: int = 0
    groups: int = 0
    held_back: int = 0
    """Groups whose every answer was held back (deflecting, low-rated or empty)."""
    candidates: list[Candidate] = field(default_factory=list)


def pairs_of(
    chat: dict[str, Any], products: Sequence[Product], named: NamedProducts | None = None
) -> tuple[list[Pair], int]:
    """(knowledge pairs, how many order-specific pairs were dropped) of one chat."""
    messages = [m for m in chat.get("messages", []) if str(m.get("text", "")).strip()]
    named = named or NamedProducts(products)  # `mine` prepares it once for every chat
    out: list[Pair] = []
    dropped = 0
    rating = chat.get("rating")
    for i, m in enumerate(messages):
        if m.get("role") != "shopper":
            continue
        question = str(m["text"]).strip()
        if GREETING.match(question) or len(question) < 4 or not QUESTIONISH.search(question):
            continue
        replies: list[str] = []
        for later in messages[i + 1 :]:
            if later.get("role") != "agent":
                break
            replies.append(str(later["text"]).strip())
        answer = " ".join(replies)
        if not answer or GREETING.match(answer) or SMALL_TALK.match(answer):
            continue
        if ORDER_SPECIFIC.search(answer) or chat.get("order_id") and "订单" in question:
            dropped += 1
            continue
        flags = []
        if DEFLECT.search(answer):
            flags.append("deflects")
        if isinstance(rating, int) and rating <= 2:
            flags.append("low_rating")
        if len(answer) < 8:
            flags.append("too_short")
        product = named.find(question) or named.find(answer)
        out.append(Pair(str(chat["id"]), question, answer, rating, product, tuple(flags)))
    return out, dropped


class Titled(Protocol):
    """Anything with a product id and title (a `Product`, or a name the index keeps)."""

    @property
    def id(self) -> str: ...

    @property
    def title(self) -> str: ...


HAN_RUN = re.compile(r"[\u3400-\u9fff]{2,}")
PIECE_CHARS = (2, 3, 4)
"""The lengths of the pieces of a title word's run of Chinese characters that also name it."""


def title_words(title: str, *, pieces: bool = False) -> set[str]:
    """A title's words (split at spaces, · and /; two characters or more), and pairs of adjacent
    words (a model number and the series word after it). With `pieces`, also every run of 2–4
    Chinese characters inside a word: a Chinese title is mostly written without spaces
    ("明前西湖龙井"), and shoppers name a product by a part of it ("龙井"; seen on a tea shop
    bundle written as a new merchant would: "龙井…有货吗？" named no product, and the
    model answered 有货 from the catalogue's list of sizes, of a sold-out size)."""
    parts = [w for w in re.split(r"[\s·/]+", title) if w]
    words = {w for w in parts if len(w) >= 2} | {
        a + b for a, b in zip(parts, parts[1:], strict=False)
    }
    if pieces:
        for part in parts:
            for run in HAN_RUN.findall(part):
                for n in PIECE_CHARS:
                    words.update(run[i : i + n] for i in range(len(run) - n + 1))
    return words


def product_names(products: Sequence[Titled], *, pieces: bool = False) -> dict[str, set[str]]:
    """Each product's distinctive name parts (`title_words`) that no other product's title has."""
    words = {p.id: title_words(p.title, pieces=pieces) for p in products}
    seen: dict[str, int] = {}
    for ws in words.values():
        for w in ws:
            seen[w] = seen.get(w, 0) + 1
    return {pid: {w for w in ws if seen[w] == 1} for pid, ws in words.items()}


def without_products(text: str, products: Sequence[Titled]) -> str:
    """The text with product titles and their distinctive words replaced by "这款"."""
    for p in sorted(products, key=lambda p: -len(p.title)):
        text = text.replace(p.title, "这款")
    for names in product_names(products).values():
        for w in sorted(names, key=len, reverse=True):
            text = text.replace(w, "这款")
    return re.sub(r"(这款\s*)+", "这款", text)


def _compact(text: str) -> str:
    return re.sub(r"\s+", "", text).lower()


class NamedProducts:
    """`mentioned_product` for one catalogue, prepared once (a shop's index keeps one): titles
    and distinctive words are looked up by the pieces of the question of their lengths, so a
    question costs the same whatever the size of the catalogue. 5,000 products: 113 ms a
    question before (`tests/knowledge/test_mining.py` pins that both agree)."""

    def __init__(self, products: Sequence[Titled]) -> None:
        by_length = sorted(products, key=lambda p: -len(p.title))
        self._titles: dict[str, int] = {}
        """Compact title → its place among the titles, longest first (the first place wins)."""
        self._ids = [p.id for p in by_length]
        for place, p in enumerate(by_length):
            self._titles.setdefault(_compact(p.title), place)
        names = product_names(products, pieces=True)
        self._order = {pid: n for n, pid in enumerate(names)}
        self._words: dict[str, list[str]] = {}
        """A distinctive word, compact → the products whose titles have it (one, unless two
        titles have it in different cases: "Abc" and "ABC")."""
        for pid, words in names.items():
            for w in words:
                self._words.setdefault(_compact(w), []).append(pid)
        self._title_lengths = sorted({len(t) for t in self._titles if t})
        self._word_lengths = sorted({len(w) for w in self._words if w})
        self._entries = len(self._titles) + sum(len(p) for p in self._words.values())

    def find(self, text: str) -> str | None:
        """The one product the text names (its whole title, the longest first; else the most
        of its distinctive title words, the first product on a tie), or None."""
        compact = _compact(text)
        # Looking up every piece costs about 100 ns a piece; a substring search over every
        # title and word about 50 ns plus 0.5 ns a character (measured): a long message in a
        # small catalogue is scanned instead (1,800 characters, 44 products: 7.6 ms → 0.24 ms).
        lengths = len(self._title_lengths) + len(self._word_lengths)
        scan = len(compact) * lengths * 100 > self._entries * (50 + len(compact) / 2)
        if scan:
            places = {place for title, place in self._titles.items() if title and title in compact}
        else:
            pieces = _pieces(compact, self._title_lengths)
            places = {place for piece in pieces if (place := self._titles.get(piece)) is not None}
        if places:
            return self._ids[min(places)]
        if scan:
            found = [w for w in self._words if w and w in compact]
        else:
            found = [w for w in set(_pieces(compact, self._word_lengths)) if w in self._words]
        counts: dict[str, int] = {}
        for word in found:
            for pid in self._words[word]:
                counts[pid] = counts.get(pid, 0) + 1
        if not counts:
            return None
        return min(counts, key=lambda pid: (-counts[pid], self._order[pid]))


def _pieces(text: str, lengths: Sequence[int]) -> Iterator[str]:
    """Every piece of `text` of each of these lengths."""
    for length in lengths:
        for start in range(len(text) - length + 1):
            yield text[start : start + length]


def mentioned_product(text: str, products: Sequence[Titled]) -> str | None:
    """The one product the text names (by a distinctive title word), or None."""
    return NamedProducts(products).find(text)


def mine(
    chats: Sequence[dict[str, Any]], products: Sequence[Product], embedder: Embedder
) -> MiningReport:
    report = MiningReport(chats=len(chats))
    named = NamedProducts(products)
    pairs: list[Pair] = []
    for chat in chats:
        found, dropped = pairs_of(chat, products, named)
        pairs.extend(found)
        report.order_specific += dropped
    report.pairs = len(pairs)
    if not pairs:
        return report
    # Grouped by what is asked, not which product: the product is its own key.
    questions = embedder.passages([without_products(p.question, products) for p in pairs])
    answers = embedder.passages([p.answer for p in pairs])
    for members in _groups(pairs, questions):
        if len({pairs[i].chat_id for i in members}) < 2:
            continue  # seen in one chat only: not yet a shop-wide question
        report.groups += 1
        candidate = _best(pairs, members, questions, answers)
        if candidate is None:
            report.held_back += 1
        else:
            report.candidates.append(candidate)
    report.candidates.sort(key=lambda c: (-c.score, c.question))
    return report


def _groups(pairs: Sequence[Pair], vectors: np.ndarray) -> list[list[int]]:
    groups: list[list[int]] = []
    centroids: list[np.ndarray] = []
    keys: list[str | None] = []
    for i, pair in enumerate(pairs):
        best, best_sim = -1, SIMILAR
        for g, centroid in enumerate(centroids):
            if keys[g] != pair.product_id:
                continue
            sim = float(centroid @ vectors[i])
            if sim >= best_sim:
                best, best_sim = g, sim
        if best < 0:
            groups.append([i])
            centroids.append(vectors[i].copy())
            keys.append(pair.product_id)
            continue
        groups[best].append(i)
        mean = vectors[groups[best]].mean(axis=0)
        centroids[best] = mean / max(float(np.linalg.norm(mean)), 1e-9)
    return groups


def _best(
    pairs: Sequence[Pair], members: list[int], questions: np.ndarray, answers: np.ndarray
) -> Candidate | None:
    usable = [i for i in members if not pairs[i].flags]
    if not usable:
        return None
    sims = answers[members] @ answers[members].T
    agreement = {i: float(sims[k].mean()) for k, i in enumerate(members)}
    rated = {i: (pairs[i].rating or 3) / 5 for i in members}
    chosen = max(usable, key=lambda i: (agreement[i] + 0.05 * rated[i], -i))
    q_sims = questions[members] @ questions[members].T
    central = members[int(np.argmax(q_sims.mean(axis=1)))]
    variants = list(dict.fromkeys(pairs[i].question for i in members if i != central))[:5]
    chats = sorted({pairs[i].chat_id for i in members})
    return Candidate(
        question=pairs[central].question,
        answer=pairs[chosen].answer,
        product_id=pairs[chosen].product_id,
        chat_ids=chats,
        variants=variants,
        score=round(len(chats) + agreement[chosen], 3),
        answer_chat=pairs[chosen].chat_id,
    )
