"""Kill the process between "executed" and "reply sent"; after a restart the same message
finishes the turn and the shop has exactly one effect."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import select

from conftest import NOW
from minishop import write_bundle
from xiaoer.config import Settings
from xiaoer.llm.scripted import ScriptedLLM, call
from xiaoer.runtime import Runtime
from xiaoer.store.models import ActionRow, AuditRow, MessageRow, OrderRow, ServiceRecordRow

CHILD = textwrap.dedent(
    """
    import asyncio, os, sys
    from datetime import datetime
    from pathlib import Path
    from zoneinfo import ZoneInfo
    from xiaoer.commerce.builtin import BuiltinCommerce
    from xiaoer.agent.turn import Assistant
    from xiaoer.config import Settings
    from xiaoer.llm.scripted import ScriptedLLM
    from xiaoer.runtime import Runtime

    home, conversation, where = sys.argv[1], sys.argv[2], sys.argv[3]

    def die_after(fn):
        async def wrapper(*args, **kwargs):
            result = await fn(*args, **kwargs)
            os._exit(137)  # as abrupt as kill -9: no cleanup, no reply
        return wrapper

    if where == "apply":
        BuiltinCommerce.apply = die_after(BuiltinCommerce.apply)
    else:
        Assistant._touched = die_after(Assistant._touched)

    async def main():
        now = datetime(2026, 11, 20, 14, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
        rt = await Runtime.open(Settings(home=Path(home), now=now), llm=ScriptedLLM())
        await rt.assistant().turn("mini", "U1", "确认", conversation_id=conversation,
                                  client_key="yes-1")
        sys.exit("the turn finished; it should have been killed")

    asyncio.run(main())
    """
)


@pytest.mark.parametrize("where", ["apply", "before-reply"])
async def test_killed_turn_resumes_with_exactly_one_effect(tmp_path: Path, where: str) -> None:
    settings = Settings(home=tmp_path / "home", now=NOW)
    rt = await Runtime.open(settings, llm=ScriptedLLM([call("cancel_order", order_id="SO1002")]))
    await rt.import_shop(write_bundle(tmp_path / "b"))
    first = await rt.assistant().turn("mini", "U1", "SO1002 拍错了，取消")
    await rt.close()

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, str(settings.home), first.conversation_id, where,
        env=env, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(child.communicate(), timeout=120)
    assert child.returncode == 137, stderr.decode()

    rt = await Runtime.open(settings, llm=ScriptedLLM())  # the restarted server
    try:
        status = await _scalar(rt, select(OrderRow.status).where(OrderRow.id == "SO1002"))
        assert status == "已取消"  # the effect survived the crash
        again = await rt.assistant().turn(
            "mini", "U1", "确认", conversation_id=first.conversation_id, client_key="yes-1"
        )
        assert again.reply.startswith("已为您取消订单 SO1002")
        assert again.llm_calls == 0
        async with rt.sessions() as s:
            records = list(await s.scalars(select(ServiceRecordRow)))
            actions = list(await s.scalars(select(ActionRow)))
            executed = list(await s.scalars(select(AuditRow).where(AuditRow.event == "executed")))
            replies = list(
                await s.scalars(select(MessageRow).where(MessageRow.role == "assistant"))
            )
        assert len(records) == 1 and records[0].kind == "cancel"
        assert [a.status for a in actions] == ["executed"] and len(executed) == 1
        assert len(replies) == 2  # the proposal's question and, now, the one outcome
    finally:
        await rt.close()


async def _scalar(rt: Runtime, stmt):  # type: ignore[no-untyped-def]
    async with rt.sessions() as s:
        return await s.scalar(stmt)
