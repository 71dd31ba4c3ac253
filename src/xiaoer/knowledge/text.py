"""Text for retrieval: tokens for BM25, and documents cut into sections and chunks.

Chinese has no spaces, so the BM25 leg indexes jieba's search-mode words plus the character
bigrams of every CJK run: words give precision ("鞋盒"), bigrams survive paraphrase, typos and
the made-up series names of product titles, which jieba does not know.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

CJK = re.compile(r"[\u3400-\u9fff]+")
WORD = re.compile(r"[a-z0-9]+(?:[.\-+][a-z0-9]+)*")
STOP = frozenset(
    "的 了 吗 呢 吧 啊 呀 哦 嘛 么 亲 请问 你好 您好 在吗 一下 我 你 您 是 有 和 与 就 都 也 还 "
    "这 那 个 么 怎么 什么 可以 能 会 要 想 请 问 下 谢谢 the a an is are do does of to and or "
    "for in on it my i you can what how".split()
)

CHUNK_CHARS = 360
"""A chunk's target size. Measured nothing finer yet; a policy paragraph or a FAQ entry fits."""


@cache
def _jieba() -> object:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def cjk_bigrams(text: str) -> set[str]:
    """The character bigrams of every CJK run: how two Chinese texts are compared for overlap
    without a word list (guard, citations, which order line a shopper means)."""
    return {run[i : i + 2] for run in CJK.findall(text) for i in range(len(run) - 1)}


def tokens(text: str) -> list[str]:
    """BM25 terms of a text: jieba words (search mode) and CJK character bigrams, lowercased."""
    text = text.lower()
    jieba = _jieba()
    out = [
        t
        for t in jieba.lcut_for_search(text)  # type: ignore[attr-defined]
        if (CJK.fullmatch(t) or WORD.fullmatch(t)) and t not in STOP
    ]
    for run in CJK.findall(text):
        out.extend(b for i in range(len(run) - 1) if (b := run[i : i + 2]) not in STOP)
    return out


def words(text: str) -> list[tuple[str, bool]]:
    """The CJK words of a text (jieba, precise mode), two characters or more, stop words out,
    each with whether jieba tags it a noun (place, person, organisation or thing)."""
    _jieba()
    from jieba import posseg

    return [
        (p.word, p.flag.startswith("n"))
        for p in posseg.lcut(text.lower())
        if len(p.word) >= 2 and CJK.fullmatch(p.word) and p.word not in STOP
    ]


@dataclass(frozen=True, slots=True)
class Section:
    """A run of text under one heading path, e.g. "店铺政策 > 退换货 > 7天无理由退货"."""

    headings: tuple[str, ...]
    text: str
    page: int | None = None

    @property
    def title(self) -> str:
        return " > ".join(self.headings)


HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
MARKUP = re.compile(r"\*\*|__|`")


def markdown_sections(text: str, page: int | None = None) -> list[Section]:
    """Split Markdown by its headings; each section keeps the path of headings above it."""
    path: list[tuple[int, str]] = []
    body: list[str] = []
    out: list[Section] = []

    def flush() -> None:
        joined = "\n".join(body).strip()
        if joined:
            out.append(Section(tuple(h for _, h in path), joined, page))
        body.clear()

    for line in text.splitlines():
        m = HEADING.match(line)
        if m is None:
            body.append(line.rstrip())
            continue
        flush()
        level, title = len(m.group(1)), MARKUP.sub("", m.group(2)).strip()
        path = [(lv, h) for lv, h in path if lv < level] + [(level, title)]
    flush()
    return out


def chunks(section: Section, limit: int = CHUNK_CHARS) -> Iterator[str]:
    """A section's text in pieces of about `limit` characters, cut between paragraphs or
    list items (a longer single paragraph is cut between sentences)."""
    parts: list[str] = []
    for block in re.split(r"\n(?=\s*(?:[-*+]|\d+[.、]) )|\n\s*\n", section.text):
        block = MARKUP.sub("", block).strip()
        if not block:
            continue
        if len(block) <= limit:
            parts.append(block)
            continue
        parts.extend(s for s in re.split(r"(?<=[。！？；!?;])", block) if s.strip())
    current = ""
    for part in parts:
        if current and len(current) + len(part) + 1 > limit:
            yield current
            current = ""
        current = f"{current}\n{part}" if current else part
    if current:
        yield current
