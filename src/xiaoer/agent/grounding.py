"""Which knowledge snippets a reply drew on: the ones it shares wording or figures with."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

CJK_RUN = re.compile(r"[\u3400-\u9fff]{2,}")
FIGURE = re.compile(r"\d+(?:\.\d+)?")
MIN_SHARED = 4
"""Shared CJK bigrams (or figures, which count double) for a snippet to count as used."""


def _bigrams(text: str) -> set[str]:
    return {run[i : i + 2] for run in CJK_RUN.findall(text) for i in range(len(run) - 1)}


def cited(reply: str, citations: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The snippets (deduplicated, in retrieval order) that the reply shares at least
    `MIN_SHARED` bigrams with, figures counting double."""
    said = _bigrams(reply)
    figures = set(FIGURE.findall(reply))
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for c in citations:
        if c["source_id"] in seen:
            continue
        text = f"{c.get('title', '')} {c.get('snippet', '')}"
        shared = len(said & _bigrams(text)) + 2 * len(figures & set(FIGURE.findall(text)))
        if shared >= MIN_SHARED:
            seen.add(c["source_id"])
            out.append(dict(c))
    return out
