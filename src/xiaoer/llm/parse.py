"""Tolerant tool-call parsing for small local models.

Qwen2.5-Coder answers a tool call in one of several shapes depending on the prompt: wrapped in
`<tool_call>` (now and then `<tools>`) tags, in a ```json fence, or as bare JSON. Arguments may come as an object or
as a JSON string, and now and then with Python quoting. `parse_tool_calls` accepts all of
them and returns nothing when the text is an ordinary reply.
"""

from __future__ import annotations

import ast
import json
import re
import uuid
from collections.abc import Sequence
from typing import Any

from xiaoer.llm.base import ToolCall, ToolSpec

_TAGGED = re.compile(r"<(tool_call|tools|function_call)>\s*(.*?)\s*(?:</\1>|$)", re.S)
_FENCED = re.compile(r"```(?:json|tool_call)?\s*(.*?)\s*(?:```|$)", re.S)
_NAME_KEYS = ("name", "function", "tool", "tool_name")
_ARG_KEYS = ("arguments", "parameters", "args", "params", "input")


def looks_like_call(text: str) -> bool:
    """Whether a reply's opening says it is (becoming) a tool call rather than prose."""
    head = text.lstrip().lstrip(">").lstrip()  # seen: ">{"name": …}" lines, quoted-reply style
    if '"name":' in text and '"arguments"' in text:
        return True
    return head.startswith(("{", "```", "<tool_call>", "<tools>", "<function_call>", "[{"))


def _load(blob: str) -> Any:
    blob = blob.strip()
    try:
        return json.loads(blob)
    except json.JSONDecodeError:
        pass
    start, end = blob.find("{"), blob.rfind("}")
    if start < 0 or end <= start:
        return None
    inner = blob[start : end + 1]
    for loader in (json.loads, ast.literal_eval):
        try:
            return loader(inner)
        except (ValueError, SyntaxError, json.JSONDecodeError, RecursionError, MemoryError):
            continue
    return None


def _as_call(obj: Any, tool_names: set[str]) -> tuple[str, dict[str, Any]] | None:
    if not isinstance(obj, dict):
        return None
    if isinstance(obj.get("function"), dict):  # OpenAI-style {"type":"function","function":{…}}
        obj = obj["function"]
    name = next((obj[k] for k in _NAME_KEYS if isinstance(obj.get(k), str)), None)
    if name is None or (tool_names and name not in tool_names):
        return None
    args: Any = next((obj[k] for k in _ARG_KEYS if k in obj), {})
    if isinstance(args, str):
        args = _load(args) if args.strip() else {}
    if not isinstance(args, dict):
        return None
    return name, args


def parse_tool_calls(text: str, tool_names: set[str]) -> list[tuple[str, dict[str, Any]]]:
    """Every tool call in `text`, in order; [] when it is not a (valid) call."""
    candidates = [body for _, body in _TAGGED.findall(text)] or _FENCED.findall(text) or [text]
    calls: list[tuple[str, dict[str, Any]]] = []
    for blob in candidates:
        obj = _load(blob)
        items = obj if isinstance(obj, list) else [obj]
        for item in items:
            call = _as_call(item, tool_names)
            if call is not None:
                calls.append(call)
    return calls


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:8]}"


def calls_in_text(text: str, tools: Sequence[ToolSpec]) -> list[ToolCall]:
    """The tool calls a model wrote as text (not through a native tool-call channel)."""
    if not tools or not looks_like_call(text):
        return []
    names = {t.name for t in tools}
    return [ToolCall(new_call_id(), n, a) for n, a in parse_tool_calls(text, names)]
