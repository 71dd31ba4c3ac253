"""Every tool's schema, as the model reads it in its prompt, is pinned to the text the product's
quality was measured with (`tool_schemas.json`, captured from the hand-written schemas before
they were generated from the argument models): the same names, descriptions, types, enums and
required lists, rendered to the same bytes, in the same order of tools."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from xiaoer.llm.chatml import render_tools
from xiaoer.tools.registry import ALL_TOOLS

PINNED: dict[str, dict[str, Any]] = json.loads(
    (Path(__file__).parent / "tool_schemas.json").read_text(encoding="utf-8")
)

ALLOWED: dict[str, str] = {}
"""Tool name → why its schema may differ from the pinned one. Empty: none does."""


def _rendered(value: Any) -> str:
    """As `llm/chatml.py` renders a schema into the prompt (key order matters to the bytes)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def test_every_tool_is_pinned_in_order() -> None:
    assert [t.spec.name for t in ALL_TOOLS] == list(PINNED)


def test_schemas_are_byte_identical_to_the_measured_ones() -> None:
    for tool in ALL_TOOLS:
        name = tool.spec.name
        if name in ALLOWED:
            continue
        pinned = PINNED[name]
        assert tool.spec.description == pinned["description"], name
        assert _rendered(tool.spec.parameters) == _rendered(pinned["parameters"]), name


def test_the_prompt_does_not_grow() -> None:
    specs = [t.spec for t in ALL_TOOLS]
    rendered = render_tools(specs)
    measured = "".join(_rendered(p["parameters"]) for p in PINNED.values())
    now = "".join(_rendered(t.spec.parameters) for t in ALL_TOOLS)
    assert len(now) <= len(measured)
    assert all(_rendered(s.openai()) in rendered for s in specs)
