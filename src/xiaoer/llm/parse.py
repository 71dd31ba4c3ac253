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

import json_repair

from xiaoer.llm.base import ToolCall, ToolSpec

_TAGGED = re.compile(r"<(tool_call|tools|function_call)>\s*(.*?)\s*(?:</\1>|$)", re.S)
_FENCED = re.compile(r"```(?:json|tool_call)?\s*(.*?)\s*(?:```|$)", re.S)
_NAME_KEYS = ("name", "function", "tool", "tool_name")
_ARG_KEYS = ("arguments", "parameters", "args", "params", "input")
_ARG_KEY = "|".join(_ARG_KEYS)
_QUOTED_OBJECT = re.compile(rf'("(?:{_ARG_KEY})"\s*:\s*)"(\{{.*\}})"', re.S)


def looks_like_call(text: str) -> bool:
    """Whether a reply's opening says it is (becoming) a tool call rather than prose."""
    head = text.lstrip().lstrip(">").lstrip()  # seen: ">{"name": …}" lines, quoted-reply style
    if '"name":' in text and '"arguments"' in text:
        return True
    return head.startswith(("{", "```", "<tool_call>", "<tools>", "<function_call>", "[{"))


def lenient_json(blob: str) -> Any:
    """The JSON value a model meant: as written, the object inside prose, Python quoting, or
    else repaired (json-repair: braces left open, keys unquoted, a comma missing, an object
    given as a string with its quotes unescaped). None when there is none to be had, or when
    a string was cut off: a value cut mid-way (SO26111 for SO2611190048) may be a wrong one."""
    blob = blob.strip()
    try:
        return json.loads(blob)
    except json.JSONDecodeError:
        pass
    start, end = blob.find("{"), blob.rfind("}")
    if start < 0:
        return None
    if end > start:
        inner = blob[start : end + 1]
        for loader in (json.loads, ast.literal_eval):
            try:
                return loader(inner)
            except (ValueError, SyntaxError, json.JSONDecodeError, RecursionError, MemoryError):
                continue
    return _repaired(blob[start:])


def _repaired(text: str) -> Any:
    quotes = len(re.findall(r'(?<!\\)"', text))
    if quotes % 2 or (not quotes and text.count("'") % 2):
        return None  # a string left open: cut off
    # arguments given as a string whose own quotes are not escaped: the object, unquoted
    text = _QUOTED_OBJECT.sub(r"\1\2", text)
    try:
        value = json_repair.loads(text)
    except Exception:  # its own failure on input it cannot read: no call
        return None
    return value if isinstance(value, dict | list) and value else None


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
        args = lenient_json(args) if args.strip() else {}
    if not isinstance(args, dict):
        return None
    return name, args


def parse_tool_calls(text: str, tool_names: set[str]) -> list[tuple[str, dict[str, Any]]]:
    """Every tool call in `text`, in order; [] when it is not a (valid) call."""
    candidates = [body for _, body in _TAGGED.findall(text)] or _FENCED.findall(text) or [text]
    calls: list[tuple[str, dict[str, Any]]] = []
    for blob in candidates:
        obj = lenient_json(blob)
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
