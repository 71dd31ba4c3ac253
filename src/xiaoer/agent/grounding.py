"""Which knowledge snippets a reply drew on: the ones it shares wording or figures with."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from xiaoer.knowledge.text import cjk_bigrams

FIGURE = re.compile(r"\d+(?:\.\d+)?")
MIN_SHARED = 4
"""Shared CJK bigrams (or figures, which count double) for a snippet to count as used."""


def cited(reply: str, citations: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The snippets (deduplicated, in retrieval order) that the reply shares at least
    `MIN_SHARED` bigrams with, figures counting double."""
    said = cjk_bigrams(reply)
    figures = set(FIGURE.findall(reply))
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for c in citations:
        if c["source_id"] in seen:
            continue
        text = f"{c.get('title', '')} {c.get('snippet', '')}"
        shared = len(said & cjk_bigrams(text)) + 2 * len(figures & set(FIGURE.findall(text)))
        if shared >= MIN_SHARED:
            seen.add(c["source_id"])
            out.append(dict(c))
    return out
