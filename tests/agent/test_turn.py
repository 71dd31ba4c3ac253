from __future__ import annotations

import pytest

from xiaoer.agent.events import Event, TextDelta, ToolStarted, TurnResult
from xiaoer.domain.errors import BadInput, Forbidden, NotFound
from xiaoer.llm.base import Completion
from xiaoer.llm.scripted import ScriptedLLM, call, say
from xiaoer.runtime import Runtime
from xiaoer.store.repositories import ConversationRepository


async def test_turn_calls_tool_and_grounds_reply(runtime: Runtime, llm: ScriptedLLM) -> None:
    llm.steps = [call("track_logistics", order_id="so1001"), say("您的包裹在杭州转运中心。")]
    events: list[Event] = []

    async def emit(e: Event) -> None:
        events.append(e)

    result = await runtime.assistant().turn("mini", "U1", "SO1001 到哪了", emit=emit)

    assert result.reply == "您的包裹在杭州转运中心。"
    assert [c.name for c in result.tool_calls] == ["track_logistics"]
    assert "快件已到达【杭州转运中心】" in result.tool_calls[0].result
    assert "顺丰速运 SF1234567890" in result.tool_calls[0].result
    assert result.llm_calls == 2
    # the second LLM call saw the tool result
    second_prompt = llm.calls[1][0]
    assert second_prompt[-2].role == "tool" and "SF1234567890" in second_prompt[-2].content
    assert second_prompt[-1].content.startswith("顾客的问题：SO1001 到哪了")
    assert [type(e).__name__ for e in events] == [
        "Accepted",
        "ToolStarted",
        "ToolFinished",
        "TextDelta",
        "TurnResult",
    ]
    async with runtime.sessions() as s:
        repo = ConversationRepository(s, "mini")
        rows = await repo.messages(result.conversation_id)
        calls = await repo.tool_calls(result.conversation_id)
    assert [(r.role, r.content) for r in rows] == [
        ("shopper", "SO1001 到哪了"),
        ("assistant", "您的包裹在杭州转运中心。"),
    ]
    assert rows[1].meta["llm_calls"] == 2 and rows[1].reply_to == rows[0].id
    assert calls[0].arguments == {"order_id": "so1001"} and calls[0].ok


async def test_other_shoppers_order_is_refused(runtime: Runtime, llm: ScriptedLLM) -> None:
    llm.steps = [call("get_order", order_id="SO2001")]
    result = await runtime.assistant().turn("mini", "U1", "帮我查 SO2001")
    record = result.tool_calls[0]
    assert not record.ok
    assert "不是当前顾客的订单" in record.result
    assert "89900" not in record.result and "李雷" not in record.result


async def test_message_is_stored_before_the_llm_runs(runtime: Runtime) -> None:
    def boom(*_args: object) -> Completion:
        raise RuntimeError("model crashed")

    runtime._assistant = None
    runtime._llm = ScriptedLLM(script=boom)
    cid = await runtime.assistant().start("mini", "U1")
    with pytest.raises(RuntimeError):
        await runtime.assistant().turn("mini", "U1", "你好", conversation_id=cid, client_key="k1")
    async with runtime.sessions() as s:
        rows = await ConversationRepository(s, "mini").messages(cid)
    assert [(r.role, r.content) for r in rows] == [("shopper", "你好")]

    # the retry with the same key runs the turn for the stored message, without a duplicate
    runtime._assistant = None
    runtime._llm = ScriptedLLM(steps=[say("您好！")])
    result = await runtime.assistant().turn(
        "mini", "U1", "你好", conversation_id=cid, client_key="k1"
    )
    again = await runtime.assistant().turn(
        "mini", "U1", "你好", conversation_id=cid, client_key="k1"
    )
    assert result.reply == "您好！" and again.replayed and again.reply == "您好！"
    async with runtime.sessions() as s:
        rows = await ConversationRepository(s, "mini").messages(cid)
    assert [r.role for r in rows] == ["shopper", "assistant"]


async def test_unparseable_call_is_retried_with_grammar(runtime: Runtime, llm: ScriptedLLM) -> None:
    broken = Completion(content='{"name": "get_order", "arguments": {', raw='{"name": "get_order"')
    llm.steps = [broken, call("list_my_orders"), say("您最近有 2 个订单。")]
    result = await runtime.assistant().turn("mini", "U1", "我的订单")
    assert [mode for _, mode in llm.calls] == ["auto", "call", "text"]
    assert result.reply == "您最近有 2 个订单。"
    assert "SO1002" in result.tool_calls[0].result and "SO2001" not in result.tool_calls[0].result


async def test_empty_output_falls_back_to_tool_result(runtime: Runtime, llm: ScriptedLLM) -> None:
    llm.steps = [call("track_logistics", order_id="SO1001"), say("")]
    result = await runtime.assistant().turn("mini", "U1", "SO1001 到哪了")
    assert result.fallback
    assert "SF1234567890" in result.reply


async def test_empty_output_without_tools_is_a_polite_fallback(
    runtime: Runtime, llm: ScriptedLLM
) -> None:
    llm.steps = [say("")]
    result = await runtime.assistant().turn("mini", "U1", "？？")
    assert result.fallback and "转人工" in result.reply


async def test_repeated_call_forces_a_text_answer(runtime: Runtime, llm: ScriptedLLM) -> None:
    llm.steps = [
        call("get_product", product_id="ZZZ-404"),
        call("get_product", product_id="ZZZ-404"),
        say("没有这款。"),
    ]
    result = await runtime.assistant().turn("mini", "U1", "我的订单")
    assert [mode for _, mode in llm.calls] == ["auto", "auto", "text"]
    assert len(result.tool_calls) == 1 and result.reply == "没有这款。"


async def test_last_step_is_text_only(runtime: Runtime, llm: ScriptedLLM) -> None:
    llm.steps = [
        call("get_product", product_id="甲"),
        call("get_product", product_id="乙"),
        call("get_product", product_id="丙"),
        say("都没有。"),
    ]
    result = await runtime.assistant().turn("mini", "U1", "有这些吗")
    assert [mode for _, mode in llm.calls] == ["auto", "auto", "auto", "text"]
    assert result.reply == "都没有。"


async def test_a_successful_lookup_is_followed_by_an_answer(
    runtime: Runtime, llm: ScriptedLLM
) -> None:
    llm.steps = [call("get_product", product_id="P1"), say("有货。")]
    await runtime.assistant().turn("mini", "U1", "P1 有货吗")
    assert [mode for _, mode in llm.calls] == ["auto", "text"]


async def test_a_failed_lookup_lets_the_model_try_again(runtime: Runtime, llm: ScriptedLLM) -> None:
    llm.steps = [call("get_product", product_id="不存在"), call("list_my_orders"), say("好的。")]
    await runtime.assistant().turn("mini", "U1", "我的订单呢")
    assert [mode for _, mode in llm.calls] == ["auto", "auto", "text"]
    note = llm.calls[-1][0][-1]
    assert note.role == "user" and note.content.endswith("说出订单号、商品和状态。")


async def test_foreign_order_gets_the_canned_refusal(runtime: Runtime, llm: ScriptedLLM) -> None:
    llm.steps = [call("get_order", order_id="SO2001")]
    result = await runtime.assistant().turn("mini", "U1", "帮我查 SO2001")
    assert result.llm_calls == 1  # settled by the tool: no model-written refusal
    assert result.reply.startswith("抱歉，没有查到订单 SO2001") and "李雷" not in result.reply


async def test_a_stalling_reply_is_retried_as_a_forced_call(
    runtime: Runtime, llm: ScriptedLLM
) -> None:
    llm.steps = [say("好的，我正在查询，请稍等。"), call("list_my_orders"), say("您有 2 个订单。")]
    deltas: list[str] = []

    async def emit(e: Event) -> None:
        if isinstance(e, TextDelta):
            deltas.append(e.text)

    result = await runtime.assistant().turn("mini", "U1", "我的订单", emit=emit)
    assert [mode for _, mode in llm.calls] == ["auto", "call", "text"]
    assert result.reply == "您有 2 个订单。"  # the stall was never shown
    assert "".join(deltas) == result.reply


@pytest.mark.parametrize(
    ("text", "stall"),
    [
        ("SO1001 不想要了，帮我取消", "好的，请提供订单号，我来帮您取消。"),
        ("SO1001 不想要了，帮我取消", "好的，您想取消吗？"),
        ("SO1001 不想要了，帮我取消", "好的，您已经取消了订单 SO1001。"),  # a change nobody made
        ("SO1001 不想要了，帮我取消", "好的，确认取消订单 SO1001。"),
    ],
)
async def test_asking_again_for_what_the_shopper_gave_is_retried_as_a_forced_call(
    runtime: Runtime, llm: ScriptedLLM, text: str, stall: str
) -> None:
    llm.steps = [say(stall), call("get_order", order_id="SO1001"), say("订单 SO1001 待发货。")]
    result = await runtime.assistant().turn("mini", "U1", text)
    assert [mode for _, mode in llm.calls] == ["auto", "call", "text"]
    assert result.reply == "订单 SO1001 待发货。"


async def test_a_real_question_is_not_forced_into_a_call(
    runtime: Runtime, llm: ScriptedLLM
) -> None:
    llm.steps = [say("您是要退货还是换货？")]
    result = await runtime.assistant().turn("mini", "U1", "SO1001 的鞋小了")
    assert [mode for _, mode in llm.calls] == ["auto"]
    assert result.reply == "您是要退货还是换货？"


async def test_history_is_replayed_with_tool_results(runtime: Runtime, llm: ScriptedLLM) -> None:
    llm.steps = [call("track_logistics", order_id="SO1001"), say("在杭州。"), say("大约明天到。")]
    first = await runtime.assistant().turn("mini", "U1", "SO1001 到哪了")
    await runtime.assistant().turn(
        "mini", "U1", "什么时候到", conversation_id=first.conversation_id
    )
    prompt = llm.calls[-1][0]
    roles = [m.role for m in prompt]
    assert roles == ["system", "user", "assistant", "tool", "user", "assistant", "user"]
    assert prompt[4].content.startswith("顾客的问题：SO1001 到哪了")  # replayed as first seen
    assert "SF1234567890" in prompt[3].content
    assert prompt[2].tool_calls[0].name == "track_logistics"


@pytest.mark.parametrize(
    ("shop", "shopper", "text", "error"),
    [
        ("nope", "U1", "hi", NotFound),
        ("mini", "U9", "hi", NotFound),
        ("mini", "U1", "   ", BadInput),
        ("mini", "U1", "长" * 2001, BadInput),
    ],
)
async def test_bad_turns_are_rejected_clearly(
    runtime: Runtime, shop: str, shopper: str, text: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await runtime.assistant().turn(shop, shopper, text)


async def test_conversation_of_another_shopper_is_forbidden(runtime: Runtime) -> None:
    cid = await runtime.assistant().start("mini", "U2")
    with pytest.raises(Forbidden):
        await runtime.assistant().turn("mini", "U1", "hi", conversation_id=cid)


async def test_streamed_text_is_emitted_once(runtime: Runtime, llm: ScriptedLLM) -> None:
    llm.steps = [say("您好，有什么可以帮您？")]
    deltas: list[str] = []

    async def emit(e: Event) -> None:
        if isinstance(e, TextDelta):
            deltas.append(e.text)
        assert not isinstance(e, ToolStarted)
        assert not isinstance(e, TurnResult) or e.reply == "".join(deltas)

    await runtime.assistant().turn("mini", "U1", "你好", emit=emit)
    assert "".join(deltas) == "您好，有什么可以帮您？"


async def test_an_invented_order_id_gets_the_shoppers_real_orders(
    runtime: Runtime, llm: ScriptedLLM
) -> None:
    llm.steps = [call("track_logistics", order_id="1234567890"), say("您问的是哪一个订单？")]
    result = await runtime.assistant().turn("mini", "U1", "我的订单到哪了？")
    text = result.tool_calls[0].result
    assert "顾客没有提供过订单号 1234567890" in text and "SO1002" in text and "SO1001" in text
    assert "SO2001" not in text


async def test_fallback_turns_are_left_out_of_history(runtime: Runtime, llm: ScriptedLLM) -> None:
    llm.steps = [say(""), say("您好！")]
    first = await runtime.assistant().turn("mini", "U1", "？？")
    assert first.fallback
    await runtime.assistant().turn("mini", "U1", "你好", conversation_id=first.conversation_id)
    assert [m.content for m in llm.calls[-1][0][1:]] == ["你好"]


async def test_unparseable_call_after_a_failed_lookup_is_retried(
    runtime: Runtime, llm: ScriptedLLM
) -> None:
    broken = Completion(content="", raw='<tool_call>{"name": "list_my_orders", "argu')
    llm.steps = [
        call("get_product", product_id="ZZZ-404"),
        broken,
        call("list_my_orders"),
        say("好"),
    ]
    result = await runtime.assistant().turn("mini", "U1", "我的订单")
    assert [mode for _, mode in llm.calls] == ["auto", "auto", "call", "text"]
    assert [c.name for c in result.tool_calls] == ["get_product", "list_my_orders"]


async def test_a_reply_after_a_lookup_is_not_second_guessed(
    runtime: Runtime, llm: ScriptedLLM
) -> None:
    llm.steps = [call("get_product", product_id="ZZZ-404"), say("抱歉，没有找到这款。")]
    result = await runtime.assistant().turn("mini", "U1", "有 ZZZ-404 吗")
    assert result.reply == "抱歉，没有找到这款。" and len(llm.calls) == 2


async def test_a_statement_about_an_order_nobody_looked_up_forces_the_lookup(
    runtime: Runtime, llm: ScriptedLLM
) -> None:
    """Seen on the embedded model: "SO… 怎么一直没发货" answered "已签收" without a lookup."""
    llm.steps = [
        say("您的订单已签收。"),
        call("track_logistics", order_id="SO1001"),
        say("您的包裹在杭州转运中心。"),
    ]
    result = await runtime.assistant().turn("mini", "U1", "SO1001 怎么一直没到")
    assert [mode for _, mode in llm.calls] == ["auto", "call", "text"]
    assert [c.name for c in result.tool_calls] == ["track_logistics"]
    assert result.reply == "您的包裹在杭州转运中心。"
