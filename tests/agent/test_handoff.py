"""Handoff triggers, the queue, and what humans do with a conversation (the inbox)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from minishop import write_bundle
from xiaoer.config import Settings
from xiaoer.domain.errors import BadInput, Conflict
from xiaoer.llm.base import Completion, ToolSpec
from xiaoer.llm.scripted import ScriptedLLM, call, say
from xiaoer.runtime import Runtime
from xiaoer.store.repositories import ConversationRepository

RULES = "version: 1\nhandoff:\n  order_above: 300\n  minutes_each: 4\n"


@pytest.fixture
async def shop(settings: Settings, llm: ScriptedLLM, tmp_path: Path) -> AsyncIterator[Runtime]:
    rt = await Runtime.open(settings, llm=llm)
    await rt.import_shop(write_bundle(tmp_path / "bundle", policy=RULES))
    yield rt
    await rt.close()


async def test_asking_for_a_human_queues_the_conversation_with_a_summary(
    shop: Runtime, llm: ScriptedLLM
) -> None:
    llm.steps = [call("get_order", order_id="SO1001"), say("您的订单在路上。")]
    first = await shop.assistant().turn("mini", "U1", "SO1001 怎么还没到")
    cid = first.conversation_id
    llm.steps = [say("好的，我来帮您。")]
    calls = len(llm.calls)
    r = await shop.assistant().turn("mini", "U1", "转人工", conversation_id=cid)
    assert r.reply == "已为您转接人工客服，预计 4 分钟内回复，请稍候，不用重复描述问题。"
    assert r.handoff is not None and r.handoff["reason"] == "asked"
    assert len(llm.calls) == calls  # the notice is the reply: the model is not asked at all
    [queued] = await shop.inbox().queue("mini")
    assert queued["conversation_id"] == cid and queued["status"] == "queued"
    summary = queued["summary"]
    assert summary["need"] == "转人工" and summary["earlier"] == ["SO1001 怎么还没到"]
    assert summary["orders"] == ["SO1001"] and summary["tried"] == [
        "get_order(order_id=SO1001) 成功"
    ]
    # while queued: no LLM, the shopper hears where they are
    calls = len(llm.calls)
    again = await shop.assistant().turn("mini", "U1", "人呢", conversation_id=cid)
    assert len(llm.calls) == calls and again.reply.startswith("已为您转接人工客服")


async def test_the_model_can_hand_off_and_a_second_asker_waits_behind(
    shop: Runtime, llm: ScriptedLLM
) -> None:
    llm.steps = [call("handoff", reason="顾客要开专票，资料多")]
    r = await shop.assistant().turn("mini", "U1", "我要开增值税专用发票")
    assert r.handoff["reason"] == "model" and r.handoff["detail"] == "顾客要开专票，资料多"
    llm.steps = [say("好的")]
    r2 = await shop.assistant().turn("mini", "U2", "找人工")
    assert "前面还有 1 位，预计 8 分钟内回复" in r2.reply


async def test_anger_hands_off_urgently_after_the_answer(shop: Runtime, llm: ScriptedLLM) -> None:
    llm.steps = [call("track_logistics", order_id="SO1001"), say("非常抱歉，包裹在杭州转运中心。")]
    r = await shop.assistant().turn("mini", "U1", "SO1001 什么破物流，再不到我就投诉！")
    assert r.reply.startswith("非常抱歉，包裹在杭州转运中心。\n已为您转接人工客服")
    assert r.handoff["reason"] == "anger" and r.handoff["priority"] == 1
    llm.steps = [call("track_logistics", order_id="SO1001"), say("包裹在杭州转运中心。")]
    r = await shop.assistant().turn("mini", "U1", "SO1001 什么破物流，再不到我就投诉！")
    assert r.reply.startswith(
        "包裹在杭州转运中心。\n非常抱歉给您带来不好的体验。已为您转接人工客服"
    )


async def test_upset_once_is_not_enough_twice_is(shop: Runtime, llm: ScriptedLLM) -> None:
    llm.script = lambda m, t, mode: say("抱歉让您久等了。")
    r = await shop.assistant().turn("mini", "U1", "怎么还没发货啊！！")
    assert r.handoff is None
    r = await shop.assistant().turn("mini", "U1", "太过分了！！", conversation_id=r.conversation_id)
    assert r.handoff is not None and r.handoff["reason"] == "anger"


async def test_two_failed_turns_in_a_row_hand_off(shop: Runtime, llm: ScriptedLLM) -> None:
    llm.script = lambda m, t, mode: say("")
    r = await shop.assistant().turn("mini", "U1", "那个东西")
    assert r.fallback and r.handoff is None
    r = await shop.assistant().turn("mini", "U1", "就是那个", conversation_id=r.conversation_id)
    assert r.handoff is not None and r.handoff["reason"] == "repeated_failure"


async def test_a_merchant_rule_sends_big_orders_to_a_human(shop: Runtime, llm: ScriptedLLM) -> None:
    llm.steps = [call("cancel_order", order_id="SO1002", reason="不想要了")]
    r = await shop.assistant().turn("mini", "U1", "SO1002 帮我取消")
    assert r.handoff is not None and r.handoff["reason"] == "rule"
    assert "超过 300 元" in r.handoff["detail"] and r.handoff["summary"]["pending"]
    assert [a["status"] for a in r.actions] == ["pending"]


async def test_takeover_whisper_reply_release(shop: Runtime, llm: ScriptedLLM) -> None:
    llm.steps = [say("您好，请问有什么可以帮您？")]
    cid = (await shop.assistant().turn("mini", "U1", "你好")).conversation_id
    inbox = shop.inbox()
    view = await inbox.takeover("mini", cid, "小王")
    assert view["status"] == "taken" and view["reason"] == "takeover"
    with pytest.raises(Conflict, match="小王 already has"):
        await inbox.takeover("mini", cid, "小李")
    calls = len(llm.calls)
    r = await shop.assistant().turn("mini", "U1", "我想改个地址", conversation_id=cid)
    assert r.reply == "" and len(llm.calls) == calls  # the human answers, not the AI
    await inbox.reply("mini", cid, "好的，已经帮您备注了新地址。", "小王")
    await inbox.whisper("mini", cid, "这位是老顾客，运费我们出")
    with pytest.raises(BadInput):
        await inbox.whisper("mini", cid, "   ")
    await inbox.release("mini", cid)
    with pytest.raises(Conflict):
        await inbox.release("mini", cid)
    llm.steps = [say("好的，运费由我们承担。")]
    await shop.assistant().turn("mini", "U1", "运费谁出？", conversation_id=cid)
    prompt = llm.calls[-1][0]
    assert "这位是老顾客，运费我们出" in prompt[0].content  # the whisper, in the system prompt
    assert any(m.content == "（人工客服）好的，已经帮您备注了新地址。" for m in prompt)
    shown = await inbox.conversation("mini", cid)
    roles = [m["role"] for m in shown["messages"]]
    assert roles == ["shopper", "assistant", "shopper", "agent", "whisper", "shopper", "assistant"]
    assert shown["mode"] == "ai" and shown["handoff"] is None
    assert await inbox.queue("mini", ["closed"]) != []


async def test_a_human_reply_to_a_queued_conversation_takes_it(
    shop: Runtime, llm: ScriptedLLM
) -> None:
    llm.steps = [say("好的")]
    cid = (await shop.assistant().turn("mini", "U1", "转人工")).conversation_id
    with pytest.raises(Conflict, match="take it over first"):
        llm.steps = [say("您好")]
        other = (await shop.assistant().turn("mini", "U2", "你好")).conversation_id
        await shop.inbox().reply("mini", other, "您好", "小王")
    await shop.inbox().reply("mini", cid, "您好，我是小王", "小王")
    [taken] = await shop.inbox().queue("mini", ["taken"])
    assert taken["agent"] == "小王" and taken["conversation_id"] == cid


async def test_suggest_drafts_from_lookups_and_changes_nothing(
    shop: Runtime, llm: ScriptedLLM
) -> None:
    llm.steps = [say("好的")]
    cid = (await shop.assistant().turn("mini", "U1", "转人工")).conversation_id
    await shop.inbox().takeover("mini", cid, "小王")
    await shop.assistant().turn("mini", "U1", "SO1001 到哪了", conversation_id=cid)
    steps = [call("track_logistics", order_id="SO1001"), say("包裹在杭州转运中心。")]
    offered: set[str] = set()

    def script(messages: object, tools: list[ToolSpec], mode: object) -> Completion:
        offered.update(t.name for t in tools)
        return steps.pop(0)

    llm.script = script
    s = await shop.inbox().suggest("mini", cid)
    assert s["reply"] == "包裹在杭州转运中心。" and s["facts"][0]["tool"] == "track_logistics"
    assert "track_logistics" in offered and "cancel_order" not in offered
    assert "handoff" not in offered
    async with shop.sessions() as session:
        rows = await ConversationRepository(session, "mini").messages(cid)
    assert [r.role for r in rows] == ["shopper", "assistant", "shopper"]


async def test_human_replies_become_knowledge_candidates(shop: Runtime, llm: ScriptedLLM) -> None:
    llm.script = lambda m, t, mode: say("好的")
    for shopper in ("U1", "U2"):
        cid = (await shop.assistant().turn("mini", shopper, "转人工")).conversation_id
        await shop.assistant().turn("mini", shopper, "这双鞋可以机洗吗？", conversation_id=cid)
        await shop.inbox().reply("mini", cid, "不建议机洗，用软毛刷蘸清水刷洗，阴干。", "小王")
    report = await shop.inbox().learn("mini")
    assert report["conversations"] == 2 and report["candidates"] == 1
    [candidate] = [
        c for c in await shop.knowledge().candidates("mini") if c.source_id == "chats:inbox-replies"
    ]
    assert candidate.answer == "不建议机洗，用软毛刷蘸清水刷洗，阴干。"


STALLED = """version: 1
rules:
  - when: {request: [logistics], tracking_still_hours: {over: 72}}
    then: handoff
    reason: 物流超过72小时没有更新，需要人工向快递催查
  - when: {request: [cancel, refund], quantity: {min: 2}}
    then: handoff
    reason: 多件订单的售后由人工处理
"""


@pytest.fixture
async def ruled_shop(
    settings: Settings, llm: ScriptedLLM, tmp_path: Path
) -> AsyncIterator[Runtime]:
    rt = await Runtime.open(settings, llm=llm)
    await rt.import_shop(write_bundle(tmp_path / "bundle", policy=STALLED))
    yield rt
    await rt.close()


async def test_a_shop_rule_hands_a_stalled_parcel_to_a_human(
    ruled_shop: Runtime, llm: ScriptedLLM
) -> None:
    # SO1001's last scan is eight days old: code looks it up, the rule hands it over
    llm.steps = [call("track_logistics", order_id="SO1001"), say("包裹在杭州转运中心。")]
    r = await ruled_shop.assistant().turn("mini", "U1", "SO1001 到哪了")
    assert r.handoff is not None and r.handoff["reason"] in ("rule", "model")
    assert r.handoff["detail"] == "物流超过72小时没有更新，需要人工向快递催查"
    assert "已为您转接人工客服" in r.reply


async def test_a_shop_rule_hands_a_change_request_to_a_human_whoever_calls_the_tool(
    ruled_shop: Runtime, llm: ScriptedLLM
) -> None:
    # SO1002 has two pairs: cancelling it is the human's (the model's call here; the flow's in
    # tests/agent/test_flows.py)
    llm.steps = [call("cancel_order", order_id="SO1002", reason="不想要了"), say("好的")]
    r = await ruled_shop.assistant().turn("mini", "U1", "SO1002 帮我取消，不想要了")
    assert r.handoff is not None and r.handoff["detail"] == "多件订单的售后由人工处理"
    assert r.actions == []  # nothing proposed: the human decides
