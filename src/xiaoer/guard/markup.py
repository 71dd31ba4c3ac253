"""Markup out of replies. Shoppers can paste HTML or Markdown that a reply would repeat (an
address, a reason, a quote) and the merchant's console would render: tags, `javascript:` and
`data:` URLs, and links are reduced to their plain text. Applies to every reply, the ones code
writes included."""

from __future__ import annotations

import re

SCRIPT = re.compile(
    r"<\s*(script|style|iframe)\b.*?(?:<\s*/\s*\1\s*>|$)", re.IGNORECASE | re.DOTALL
)
TAG = re.compile(r"<\s*/?\s*[A-Za-z!][^<>]*>")
LINK = re.compile(r"!?\[([^\]]*)\]\(\s*[^)]*\)")
SCHEME = re.compile(r"(?:javascript|vbscript|data)\s*:", re.IGNORECASE)
URL = re.compile(r"https?://[^\s，。）)]+", re.IGNORECASE)


def strip_markup(text: str, allowed_hosts: tuple[str, ...] = ()) -> tuple[str, list[str]]:
    """The text without markup and foreign links, and what was taken out."""
    removed: list[str] = []

    def cut(m: re.Match[str], keep: str = "") -> str:
        removed.append(m.group(0)[:80])
        return keep

    text = SCRIPT.sub(cut, text)
    text = TAG.sub(cut, text)
    text = LINK.sub(lambda m: cut(m, m.group(1)), text)
    text = SCHEME.sub(cut, text)
    text = URL.sub(lambda m: m.group(0) if _allowed(m.group(0), allowed_hosts) else cut(m), text)
    return text, removed


def _allowed(url: str, hosts: tuple[str, ...]) -> bool:
    host = url.split("//", 1)[-1].split("/", 1)[0].lower()
    return any(host == h or host.endswith("." + h) for h in hosts)
