"""`handoff`: the model asks for a human. The turn opens the queue entry and tells the shopper
what happens next; the tool itself only records the model's reason."""

from __future__ import annotations

from xiaoer.tools.args import ToolArgs, asked
from xiaoer.tools.base import ToolResult, typed
from xiaoer.tools.deps import TurnDeps

REASON_CHARS = 200


class HandoffArgs(ToolArgs):
    reason: str = asked("为什么转人工，一句话")
    """Missing: a default one (an angry shopper is not kept waiting for a retry)."""


async def handoff(deps: TurnDeps, args: HandoffArgs) -> ToolResult:
    reason = " ".join(args.reason.split())[:REASON_CHARS] or "需要人工处理"
    # The reply settles the turn; the turn replaces it with the queue notice.
    return ToolResult(True, "已转人工。", {"handoff": reason}, reply="已为您转接人工客服。")


HANDOFF_TOOLS = (
    typed(
        "handoff",
        "转人工客服：顾客要求人工、问题你解决不了、或顾客非常生气时用。",
        handoff,
    ),
)
