"""Name → tool: the read-only lookups, the after-sales tools and the service tools."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

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


async def run_tool(
    tools: dict[str, Tool], name: str, args: dict[str, Any], deps: TurnDeps
) -> tuple[ToolResult, int]:
    """Run one tool safely: unknown names and crashes become results the model can act on."""
    started = time.perf_counter()
    tool = tools.get(name)
    if tool is None:
        result = ToolResult(False, f"没有名为 {name} 的函数。可用：{', '.join(tools)}。")
    else:
        try:
            result = await tool.run(deps, args)
        except Exception:
            log.exception("tool %s failed with %s", name, json.dumps(args, ensure_ascii=False))
            result = ToolResult(False, "查询暂时失败了。请向顾客致歉，并说明稍后再试或转人工。")
    return result, int((time.perf_counter() - started) * 1000)
