from __future__ import annotations

from xiaoer.llm.base import ChatMessage, ToolCall, ToolSpec
from xiaoer.llm.chatml import render

TOOLS = [ToolSpec("get_order", "查询订单", {"type": "object", "properties": {}})]


def test_prefix_is_stable_and_history_append_only() -> None:
    first = [ChatMessage("system", "你是客服"), ChatMessage("user", "你好")]
    call = ChatMessage("assistant", tool_calls=(ToolCall("c1", "get_order", {"order_id": "A"}),))
    second = [*first, call, ChatMessage("tool", "状态：已发货"), ChatMessage("user", "谢谢")]
    a, b = render(first, TOOLS), render(second, TOOLS)
    assert b.startswith(a.removesuffix("<|im_start|>assistant\n"))
    assert a.count("<tools>\n") == 1 and '"name":"get_order"' in a
    assert '<tool_call>\n{"name": "get_order", "arguments": {"order_id": "A"}}\n</tool_call>' in b
    assert "<|im_start|>user\n<tool_response>\n状态：已发货\n</tool_response>\n谢谢<|im_end|>" in b
    assert b.endswith("<|im_start|>assistant\n")


def test_no_tools_no_tool_block() -> None:
    assert "<tools>" not in render([ChatMessage("system", "x")], [])


def test_consecutive_tool_results_share_one_user_turn() -> None:
    msgs = [
        ChatMessage("system", "s"),
        ChatMessage("tool", "A"),
        ChatMessage("tool", "B"),
        ChatMessage("user", "请回答"),
    ]
    text = render(msgs, [])
    assert text.count("<|im_start|>user") == 1
    assert (
        "<tool_response>\nA\n</tool_response>\n<tool_response>\nB\n</tool_response>\n请回答" in text
    )
