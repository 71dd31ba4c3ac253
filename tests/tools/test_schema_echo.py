"""A value copied from the tool schema's own description is refused with a retry hint, before
the tool runs (seen: "顾客说的原因（照顾客原话）" sent back as the cancel reason and accepted)."""

from __future__ import annotations

from typing import Any

from xiaoer.llm.base import ToolSpec
from xiaoer.tools.base import Tool, ToolResult, schema
from xiaoer.tools.deps import TurnDeps
from xiaoer.tools.registry import BY_NAME, run_tool, schema_echo

REASON = {"type": "string", "description": "顾客说的原因（照顾客原话）"}


def test_copies_of_the_description_are_found() -> None:
    params = schema({"order_id": {"type": "string"}, "reason": REASON})
    assert schema_echo(params, {"reason": "顾客说的原因（照顾客原话）"}) == "reason"
    assert schema_echo(params, {"reason": "顾客说的原因"}) == "reason"  # a piece of it
    assert schema_echo(params, {"reason": "照顾客原话"}) == "reason"
    assert schema_echo(params, {"reason": "原因：顾客说的原因(照顾客原话)"}) == "reason"
    # the shopper's own words, short values and arguments without a description pass
    assert schema_echo(params, {"reason": "拍错了，不想要了", "order_id": "SO1002"}) is None
    assert schema_echo(params, {"reason": "原因"}) is None
    assert schema_echo(params, {"reason": 3}) is None


def test_every_real_tool_accepts_ordinary_values() -> None:
    ordinary = {"order_id": "SO2611180029", "reason": "尺码小了", "keyword": "跑鞋",
                "query": "你们支持七天无理由退货吗", "address": "浙江省杭州市西湖区文三路 100 号",
                "to": "42码", "title": "个人", "product": "星河 X60"}  # fmt: skip
    for tool in BY_NAME.values():
        props = tool.spec.parameters.get("properties") or {}
        args = {k: v for k, v in ordinary.items() if k in props}
        assert schema_echo(tool.spec.parameters, args) is None, tool.spec.name


async def test_run_tool_refuses_the_copy_without_running_the_tool() -> None:
    ran: list[dict[str, Any]] = []

    async def cancel(deps: TurnDeps, args: dict[str, Any]) -> ToolResult:
        ran.append(args)
        return ToolResult(True, "ok")

    spec = ToolSpec("cancel_order", "取消订单", schema({"reason": REASON}))
    tools = {"cancel_order": Tool(spec, cancel, mutating=True)}
    deps: Any = None  # never reached
    result, _ = await run_tool(tools, "cancel_order", {"reason": "顾客说的原因"}, deps)
    assert not result.ok and "reason" in result.text and "问顾客" in result.text
    assert ran == []
