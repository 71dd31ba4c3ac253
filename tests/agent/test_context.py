"""History replays each turn as the model was shown it, so the next prompt starts with the last
one and the model's cache holds it (agent/context.py, `Loop.shown`)."""

from __future__ import annotations

from xiaoer.agent.context import build_history
from xiaoer.agent.loop import Loop
from xiaoer.llm.base import ChatMessage, ToolCall
from xiaoer.llm.chatml import render
from xiaoer.store.models import MessageRow, ToolCallRow


def test_a_turn_is_replayed_as_the_model_read_it() -> None:
    call = ToolCall("c1", "search_knowledge", {"query": "羽绒服充绒量"})
    opened = [ChatMessage("system", "你是客服。"), ChatMessage("user", "充绒量多少？")]
    turn = [
        ChatMessage("assistant", tool_calls=(call,)),
        ChatMessage("tool", "店铺资料：\n[1] 充绒量：L码约220g", tool_call_id="c1"),  # trimmed
        ChatMessage("user", "顾客的问题：充绒量多少？\n请根据查询结果回答。"),
        ChatMessage("assistant", "充绒量是300g。"),  # stopped by the guard
        ChatMessage("user", "这些内容在查询结果里找不到：300g"),
    ]
    loop = Loop([*opened, *turn], opened=len(opened))
    shown = loop.shown()
    assert [m["role"] for m in shown] == ["assistant", "tool", "user"]
    rows = [
        MessageRow(id=1, role="shopper", content="充绒量多少？", meta={}),
        MessageRow(id=2, role="assistant", content="L码约220g。", meta={"shown": shown}),
    ]
    stored = [  # the full result, as the guard keeps it
        ToolCallRow(message_id=2, seq=0, name=call.name, arguments=call.arguments,
                    result="店铺资料：\n[1] 充绒量：L码约220g\n[2] 另一条", ok=True),
    ]  # fmt: skip
    history = build_history(rows, stored, 2000)
    replayed = render([opened[0], *history], [])
    last_call = render([*opened, *turn[:3]], []).removesuffix("<|im_start|>assistant\n")
    assert replayed.startswith(last_call) and "另一条" not in replayed
    assert history[2].tool_call_id == history[1].tool_calls[0].id
    # a turn stored before `shown` existed replays from its stored results, as before
    rows[1].meta = {"answer_note": turn[2].content}
    assert "另一条" in render([opened[0], *build_history(rows, stored, 2000)], [])
