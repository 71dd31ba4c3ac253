"""Two hands on one action at the same moment settle it exactly once, on SQLite and PostgreSQL:
confirm and decline pressed together, two confirms, two merchant approvals. The loser gets a 409
that says what the action became; the audit log and the store show one outcome. And what the
start of a turn writes besides the shopper's message (an expired action's move, 智能辅助's
handoff), written apart from it, on both stores."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from conftest import NOW
from minishop import write_bundle
from pg_fixture import fresh_database
from xiaoer.agent.actions import Outcome
from xiaoer.commerce.builtin import BuiltinCommerce
from xiaoer.config import Settings
from xiaoer.domain.actions import FINAL, MOVES, ActionStatus, IllegalMove, check_move
from xiaoer.domain.errors import Conflict
from xiaoer.llm.scripted import ScriptedLLM, call, say
from xiaoer.runtime import Runtime
from xiaoer.services.policies import set_assist
from xiaoer.store.models import (
    ActionRow,
    AuditRow,
    ConversationRow,
    HandoffRow,
    MessageRow,
    OrderRow,
    ServiceRecordRow,
)
from xiaoer.tools.deps import TurnDeps


def test_the_table_allows_only_its_moves() -> None:
    assert check_move("a", "pending", "confirmed") == (ActionStatus.PENDING, ActionStatus.CONFIRMED)
    for before, after in [
        ("pending", "executed"),  # never without a yes
        ("declined", "confirmed"),  # a final state stays final
        ("executed", "declined"),
        ("awaiting_approval", "executed"),  # the merchant's approval is a state of its own
        ("confirmed", "nonsense"),
    ]:
        with pytest.raises(IllegalMove):
            check_move("a", before, after)
    assert FINAL == {s for s in ActionStatus if not MOVES[s]}
    assert all(s in MOVES for s in ActionStatus)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def rt(
    request: pytest.FixtureRequest, llm: ScriptedLLM, tmp_path: Path
) -> AsyncIterator[Runtime]:
    url = ""
    if request.param == "postgres":
        url = await fresh_database(request.getfixturevalue("postgres_url"), tmp_path.name)
    settings = Settings(home=tmp_path / "home", database_url=url, now=NOW, guard=False)
    runtime = await Runtime.open(settings, llm=llm)
    await runtime.import_shop(write_bundle(tmp_path / "b", policy="refund: {auto_limit: 100}\n"))
    yield runtime
    await runtime.close()


async def _propose(rt: Runtime, llm: ScriptedLLM, tool: str, text: str) -> tuple[str, str]:
    llm.steps = [call(tool, order_id="SO1002", reason="拍错了")]
    result = await rt.assistant().turn("mini", "U1", text)
    [action] = result.actions
    assert action["status"] == "pending"
    return result.conversation_id, action["id"]


async def _press_together(rt: Runtime, cid: str, action_id: str, *accepts: bool) -> list:
    assistant = rt.assistant()
    return await asyncio.gather(
        *(assistant.press("mini", "U1", cid, action_id, accept=a) for a in accepts),
        return_exceptions=True,
    )


async def _events(rt: Runtime, action_id: str) -> list[str]:
    async with rt.sessions() as s:
        rows = await s.scalars(
            select(AuditRow).where(AuditRow.action_id == action_id).order_by(AuditRow.id)
        )
        return [r.event for r in rows]


async def _status(rt: Runtime, action_id: str) -> str:
    async with rt.sessions() as s:
        row = await s.get(ActionRow, action_id)
        assert row is not None
        return row.status


async def test_confirm_and_decline_pressed_together_settle_one(
    rt: Runtime, llm: ScriptedLLM
) -> None:
    cid, action_id = await _propose(rt, llm, "cancel_order", "SO1002 拍错了，取消")
    yes, no = await _press_together(rt, cid, action_id, True, False)
    lost = [r for r in (yes, no) if isinstance(r, BaseException)]
    assert len(lost) == 1 and isinstance(lost[0], Conflict), (yes, no)
    events = await _events(rt, action_id)
    async with rt.sessions() as s:
        order = await s.get(OrderRow, ("mini", "SO1002"))
        records = list(await s.scalars(select(ServiceRecordRow)))
    assert order is not None
    if isinstance(no, BaseException):  # the yes won: cancelled once, never declined
        assert events == ["proposed", "confirmed", "executed"]
        assert order.status == "已取消" and len(records) == 1
    else:  # the no won: nothing changed, never confirmed
        assert events == ["proposed", "declined"]
        assert order.status == "待发货" and records == []
    assert "now" in lost[0].message


async def test_a_press_after_the_other_one_settled_is_told_what_it_became(
    rt: Runtime, llm: ScriptedLLM
) -> None:
    # seen under load: one press ran to its end before the other started, and its 409 read
    # differently from the race's ("is executed, not pending")
    cid, action_id = await _propose(rt, llm, "cancel_order", "SO1002 拍错了，取消")
    await rt.assistant().press("mini", "U1", cid, action_id, accept=True)
    with pytest.raises(Conflict) as late:
        await rt.assistant().press("mini", "U1", cid, action_id, accept=False)
    assert "executed now" in late.value.message
    assert await _events(rt, action_id) == ["proposed", "confirmed", "executed"]


async def test_two_confirms_execute_and_answer_once(rt: Runtime, llm: ScriptedLLM) -> None:
    cid, action_id = await _propose(rt, llm, "cancel_order", "SO1002 拍错了，取消")
    first, second = await _press_together(rt, cid, action_id, True, True)
    # the same button twice in one process: the second waits for the first's answer (in two
    # processes, the later one gets a 409: tests/agent/test_resend_across_workers.py)
    assert not isinstance(first, BaseException) and not isinstance(second, BaseException)
    assert first.reply == second.reply and first.reply.startswith("已为您取消订单 SO1002")
    assert (first.replayed, second.replayed) == (False, True)
    assert await _events(rt, action_id) == ["proposed", "confirmed", "executed"]
    async with rt.sessions() as s:
        assert len(list(await s.scalars(select(ServiceRecordRow)))) == 1
        replies = await s.scalars(select(MessageRow).where(MessageRow.role == "assistant"))
        assert len(list(replies)) == 2  # the proposal's question and one answer to the press


async def test_an_execute_that_finds_its_change_made_meanwhile_finishes_it(
    rt: Runtime, llm: ScriptedLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    # seen in CI: two executes of one action; the second looked for the change before the first
    # applied it, then checked the policy on the order the first had just cancelled ("已取消"
    # cannot be cancelled) and marked the action blocked — while the order was cancelled
    cid, action_id = await _propose(rt, llm, "cancel_order", "SO1002 拍错了，取消")
    desk = rt.assistant().desk
    real_finish, real_find = desk._finish, BuiltinCommerce.find_record
    other: list[Outcome] = []

    async def stale_once(self: BuiltinCommerce, key: str) -> object:
        monkeypatch.setattr(BuiltinCommerce, "find_record", real_find)
        return None  # read just before the first execute's change was committed

    async def finish(deps: TurnDeps, row: ActionRow, *args: Any) -> Outcome:
        if desk._finish is finish:  # the first execute has applied the change: the other runs
            monkeypatch.setattr(desk, "_finish", real_finish)
            monkeypatch.setattr(BuiltinCommerce, "find_record", stale_once)
            other.append(await desk.execute(deps, row.id))
        return await real_finish(deps, row, *args)

    monkeypatch.setattr(desk, "_finish", finish)
    with pytest.raises(Conflict):  # the first one to finish wins; this one is the later
        await rt.assistant().press("mini", "U1", cid, action_id, accept=True)
    [outcome] = other
    assert outcome.reply.startswith("已为您取消订单 SO1002")
    assert await _events(rt, action_id) == ["proposed", "confirmed", "executed"]
    async with rt.sessions() as s:
        assert len(list(await s.scalars(select(ServiceRecordRow)))) == 1
        order = await s.get(OrderRow, ("mini", "SO1002"))
        assert order is not None and order.status == "已取消"


async def test_two_approvals_execute_and_answer_once(rt: Runtime, llm: ScriptedLLM) -> None:
    cid, action_id = await _propose(rt, llm, "request_refund", "SO1002 拍错了，退款")
    [pressed] = await _press_together(rt, cid, action_id, True)
    assert await _status(rt, action_id) == "awaiting_approval", pressed
    assistant = rt.assistant()
    results = await asyncio.gather(
        assistant.review("mini", action_id, approve=True, note="核实无误"),
        assistant.review("mini", action_id, approve=True, note="核实无误"),
        return_exceptions=True,
    )
    wins = [r for r in results if not isinstance(r, BaseException)]
    assert len(wins) == 1 and all(
        isinstance(r, Conflict) for r in results if isinstance(r, BaseException)
    )
    assert await _events(rt, action_id) == [
        "proposed", "confirmed", "awaiting_approval", "approved", "executed",
    ]  # fmt: skip
    async with rt.sessions() as s:
        assert len(list(await s.scalars(select(ServiceRecordRow)))) == 1
        said = await s.scalars(select(AuditRow).where(AuditRow.event == "approved"))
        assert [a.actor for a in said] == ["merchant"]


async def test_approve_and_reject_together_settle_one(rt: Runtime, llm: ScriptedLLM) -> None:
    cid, action_id = await _propose(rt, llm, "request_refund", "SO1002 拍错了，退款")
    await _press_together(rt, cid, action_id, True)
    assistant = rt.assistant()
    approved, rejected = await asyncio.gather(
        assistant.review("mini", action_id, approve=True),
        assistant.review("mini", action_id, approve=False, note="不符合"),
        return_exceptions=True,
    )
    assert isinstance(approved, BaseException) != isinstance(rejected, BaseException)
    final = await _status(rt, action_id)
    assert final == ("rejected" if isinstance(approved, BaseException) else "executed")
    events = await _events(rt, action_id)
    assert events[-1] == final and ("approved" in events) != ("rejected" in events)


async def test_a_turn_moves_an_expired_action_and_answers_on(rt: Runtime, llm: ScriptedLLM) -> None:
    """The start of a turn reads the shopper's actions without a transaction on PostgreSQL and
    moves the expired ones in one of their own: the move and its audit entry both stored."""
    cid, action_id = await _propose(rt, llm, "cancel_order", "SO1002 拍错了，取消")
    async with rt.sessions() as s:
        row = await s.get(ActionRow, action_id)
        assert row is not None
        row.expires_at = row.created_at - timedelta(minutes=1)
        await s.commit()
    llm.steps = [say("请问您要办理什么？")]
    result = await rt.assistant().turn("mini", "U1", "确认", conversation_id=cid)
    assert result.reply == "请问您要办理什么？"
    assert await _status(rt, action_id) == "expired"
    assert await _events(rt, action_id) == ["proposed", "expired"]
    async with rt.sessions() as s:
        order = await s.get(OrderRow, ("mini", "SO1002"))
    assert order is not None and order.status == "待发货"


async def test_assist_queues_the_conversation_with_the_message_stored_once(
    rt: Runtime, llm: ScriptedLLM
) -> None:
    """智能辅助: the shopper's message is stored, then the conversation queued for a human with
    a handoff, in a transaction of its own; the AI answers nothing itself."""
    async with rt.sessions() as s:
        await set_assist(s, "mini", True, NOW, "boss")
        await s.commit()
    llm.steps = []  # no model call may be made
    result = await rt.assistant().turn("mini", "U1", "SO1002 到哪了", client_key="a1")
    async with rt.sessions() as s:
        conversation = await s.get(ConversationRow, result.conversation_id)
        handoffs = list(await s.scalars(select(HandoffRow)))
        shopper = list(await s.scalars(select(MessageRow).where(MessageRow.role == "shopper")))
    assert conversation is not None and conversation.mode == "queued"
    assert [(h.conversation_id, h.reason, h.status) for h in handoffs] == [
        (result.conversation_id, "assist", "queued")
    ]
    assert [m.content for m in shopper] == ["SO1002 到哪了"]
    assert result.llm_calls == 0
