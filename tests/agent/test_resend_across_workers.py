"""A message resent to another API worker while the worker that took it is still answering it
gets a 409, not a second answer; once that worker is gone, the resend is answered."""

from __future__ import annotations

import asyncio
import sys
import time

import pytest

from xiaoer.agent.turn import ANSWERING_S
from xiaoer.domain.errors import Conflict
from xiaoer.llm.scripted import ScriptedLLM, say
from xiaoer.runtime import Runtime
from xiaoer.store.repositories import ConversationRepository


async def _taken(runtime: Runtime, by: str, accepted: float) -> str:
    """A conversation whose message `k1` a worker `by` accepted and has not answered."""
    a = runtime.assistant()
    cid = await a.start("mini", "U1")
    async with runtime.sessions() as s:
        repo = ConversationRepository(s, "mini")
        meta = {"accepted": accepted, "by": by}
        await repo.add_message(cid, "shopper", "在吗", a.clock(), client_key="k1", meta=meta)
        await s.commit()
    return cid


async def test_a_live_worker_on_this_machine_keeps_its_message(
    runtime: Runtime, llm: ScriptedLLM
) -> None:
    import socket

    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import time; time.sleep(60)"
    )
    try:
        by = f"{socket.gethostname()}:{worker.pid}"
        cid = await _taken(runtime, by, time.time())
        with pytest.raises(Conflict, match="still being answered"):
            await runtime.assistant().turn("mini", "U1", "在吗", conversation_id=cid,
                                           client_key="k1")  # fmt: skip
        # a live pid long after: some other process (containers that share a host name)
        stale = await _taken(runtime, by, time.time() - ANSWERING_S - 1)
        llm.steps = [say("您好。")]
        r = await runtime.assistant().turn("mini", "U1", "在吗", conversation_id=stale,
                                           client_key="k1")  # fmt: skip
        assert r.reply == "您好。"
    finally:
        worker.kill()
        await worker.wait()
    llm.steps = [say("在的，您说。")]
    r = await runtime.assistant().turn("mini", "U1", "在吗", conversation_id=cid, client_key="k1")
    assert r.reply == "在的，您说。"  # its worker died: answered here, once
    again = await runtime.assistant().turn(
        "mini", "U1", "在吗", conversation_id=cid, client_key="k1"
    )
    assert again.replayed and again.reply == "在的，您说。"


async def test_a_worker_on_another_machine_has_its_message_for_a_while(
    runtime: Runtime, llm: ScriptedLLM
) -> None:
    cid = await _taken(runtime, "elsewhere:4242", time.time())
    with pytest.raises(Conflict):
        await runtime.assistant().turn("mini", "U1", "在吗", conversation_id=cid, client_key="k1")
    late = await _taken(runtime, "elsewhere:4242", time.time() - ANSWERING_S - 1)
    llm.steps = [say("在的。")]
    r = await runtime.assistant().turn("mini", "U1", "在吗", conversation_id=late, client_key="k1")
    assert r.reply == "在的。"
