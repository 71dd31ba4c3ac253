"""Name → tool: the read-only lookups, the after-sales tools and the service tools."""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

from xiaoer.domain.tracing import span
from xiaoer.tools.aftersales import AFTERSALES_TOOLS
from xiaoer.tools.base import Tool, ToolResult
from xiaoer.tools.catalog import CATALOG_TOOLS
from xiaoer.tools.deps import TurnDeps
from xiaoer.tools.handoff import HANDOFF_TOOLS
from xiaoer.tools.knowledge import KNOWLEDGE_TOOLS
from xiaoer.tools.orders import ORDER_TOOLS
from xiaoer.tools.services import SERVICE_TOOLS

log = logging.getLogger(__name__)

READ_TOOLS: tuple[Tool, ...] = (*ORDER_TOOLS, *CATALOG_TOOLS, *KNOWLEDGE_TOOLS)
ALL_TOOLS: tuple[Tool, ...] = (*READ_TOOLS, *AFTERSALES_TOOLS, *SERVICE_TOOLS, *HANDOFF_TOOLS)
BY_NAME: dict[str, Tool] = {t.spec.name: t for t in ALL_TOOLS}
MUTATING: frozenset[str] = frozenset(t.spec.name for t in ALL_TOOLS if t.mutating)


SCHEMA_ECHO_HINT = (
    "填的是参数说明本身，不是顾客的话。请填顾客实际说的内容；顾客没说过的就先问顾客，不要照抄说明。"
)
"""The retry hint for a value copied from the schema (a secret: a reply must not repeat it)."""
_NOISE = re.compile(r"[\s（）()【】\[\]「」“”\"'，,。.:：;；、!！?？-]+")


def _plain(text: str) -> str:
    return _NOISE.sub("", text).lower()


def schema_echo(parameters: dict[str, Any], args: dict[str, Any]) -> str | None:
    """The name of an argument whose value is its own description copied back (the small model
    does this: "顾客说的原因（照顾客原话）" sent as the reason), or None. A value counts as a
    copy when, punctuation aside, it is the description, or a piece of it of 5 characters or
    more, or contains the whole description."""
    properties = parameters.get("properties") or {}
    for key, value in args.items():
        about = (properties.get(key) or {}).get("description")
        if not isinstance(value, str) or not isinstance(about, str):
            continue
        v, d = _plain(value), _plain(about)
        if not v or not d:
            continue
        if v == d or (len(v) >= 5 and v in d) or (len(d) >= 6 and d in v):
            return key
    return None


async def run_tool(
    tools: dict[str, Tool], name: str, args: dict[str, Any], deps: TurnDeps
) -> tuple[ToolResult, int]:
    """Run one tool the model called, safely: unknown names, values copied from the schema, bad
    arguments (a typed tool's retry hint) and crashes become results the model can act on.
    Arguments only code sets (a typed tool's hidden fields) are dropped from the call."""
    with span("xiaoer.tool", **{"tool.name": name}) as traced:
        result, ms = await _run_tool(tools, name, args, deps)
        traced.set_attribute("tool.ok", result.ok)
        return result, ms


async def _run_tool(
    tools: dict[str, Tool], name: str, args: dict[str, Any], deps: TurnDeps
) -> tuple[ToolResult, int]:
    started = time.perf_counter()
    tool = tools.get(name)
    if tool is not None and tool.args is not None:
        hidden = tool.args.hidden()
        args = {k: v for k, v in args.items() if k not in hidden}
    copied = schema_echo(tool.spec.parameters, args) if tool is not None else None
    if tool is None:
        result = ToolResult(False, f"没有名为 {name} 的函数。可用：{', '.join(tools)}。")
    elif copied is not None:
        result = ToolResult(False, f"参数 {copied} " + SCHEMA_ECHO_HINT)
    else:
        try:
            result = await tool.run(deps, args)
        except Exception:
            log.exception("tool %s failed with %s", name, json.dumps(args, ensure_ascii=False))
            result = ToolResult(False, "查询暂时失败了。请向顾客致歉，并说明稍后再试或转人工。")
    return result, int((time.perf_counter() - started) * 1000)
