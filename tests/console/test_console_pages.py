"""Console pages: the dashboard's KPI figures, the conversations list, a transcript with its
tool calls and guard verdicts, and the handoff queue, all from conversations made here."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx

from conftest import login
from xiaoer.runtime import Runtime
from xiaoer.store.models import ActionRow
from xiaoer.store.repositories import (
    ActionRepository,
    ConversationRepository,
    HandoffRepository,
)

SH = ZoneInfo("Asia/Shanghai")


async def _chats(runtime: Runtime) -> None:
    """c0: answered in 20 s with a tool call and a failed guard check; c1: answered in 200 s;
    c2: handed to a human (asked), waiting since 11:00; c3 in the other shop."""
    async with runtime.sessions() as s:
        repo = ConversationRepository(s, "mini")
        asked = datetime(2026, 11, 20, 10, 0, tzinfo=SH)
        await repo.create("c0", "U1", "api", asked)
        q = await repo.add_message("c0", "shopper", "订单 O1 到哪了", asked)
        guard = [{"layer": "claims", "passed": False, "claims": ["明天送达"], "ms": 3}]
        cites = [{"source_id": "faq:ship", "title": "发货时间", "snippet": "48小时内发货"}]
        a = await repo.add_message(
            "c0", "assistant", "您的订单已发货", asked + timedelta(seconds=20), reply_to=q.id,
            meta={"guard": guard, "citations": cites, "latency_ms": 1234},
        )  # fmt: skip
        await repo.add_tool_calls(
            a.id, "c0", [{"name": "get_order", "arguments": {"order_id": "O1"},
                          "result": "订单 O1 已发货", "ok": True}],
        )  # fmt: skip
        await ActionRepository(s, "mini").add(
            ActionRow(
                id="act_1", shop_id="mini", conversation_id="c0", shopper_id="U1",
                order_id="O1", tool="start_return", arguments={"order_id": "O1"},
                summary="退货 O1", amount_fen=12900, status="pending", proposed_message_id=a.id,
                created_at=asked, updated_at=asked, expires_at=asked + timedelta(hours=1),
            )
        )  # fmt: skip
        asked = datetime(2026, 11, 20, 10, 30, tzinfo=SH)
        await repo.create("c1", "U2", "api", asked)
        q = await repo.add_message("c1", "shopper", "有没有黑色42码", asked)
        await repo.add_message(
            "c1", "assistant", "有的", asked + timedelta(seconds=200), reply_to=q.id
        )
        asked = datetime(2026, 11, 20, 11, 0, tzinfo=SH)
        await repo.create("c2", "U3", "api", asked)
        await repo.add_message("c2", "shopper", "我要找人工客服", asked)
        await HandoffRepository(s, "mini").open(
            "c2", "U3", "asked", detail="顾客要求", priority=2,
            summary={"need": "我要找人工客服", "tried": [], "orders": ["O9"]}, now=asked,
        )  # fmt: skip
        other = ConversationRepository(s, "other")
        await other.create("c3", "U1", "api", asked)
        await other.add_message("c3", "shopper", "别家店的秘密问题", asked)
        await s.commit()


def _cell(html: str, key: str) -> str:
    found = re.search(rf'<tr data-key="{key}">\s*<th[^>]*>[^<]*</th>\s*<td>([^<]*)</td>', html)
    assert found, key
    return found.group(1)


async def test_dashboard_shows_the_kpis_of_the_period(
    console: httpx.AsyncClient, runtime: Runtime
) -> None:
    await _chats(runtime)
    await login(console, "boss")
    page = await console.get("/console/mini/?since=2026-11-20&until=2026-11-20")
    assert page.status_code == 200
    # 淘宝 3-min: c0 in 20 s, c1 in 200 s (late), c2 never answered → 1 of 3
    assert _cell(page.text, "taobao_3min_response_rate") == "33.3%"
    assert _cell(page.text, "conversations") == "3"  # not the other shop's
    assert _cell(page.text, "handoff_rate") == "33.3%"
    assert "趋势图稍后提供" in page.text
    empty = await console.get("/console/mini/?since=2026-11-01&until=2026-11-01")
    assert _cell(empty.text, "conversations") == "0"
    bad = await console.get("/console/mini/?since=yesterday")
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.text


async def test_conversations_search_and_filters(
    console: httpx.AsyncClient, runtime: Runtime
) -> None:
    await _chats(runtime)
    await login(console, "li")
    every = (await console.get("/console/mini/conversations")).text
    assert all(f'data-id="{c}"' in every for c in ("c0", "c1", "c2"))
    assert 'data-id="c3"' not in every and "秘密" not in every
    found = (await console.get("/console/mini/conversations", params={"q": "42码"})).text
    assert 'data-id="c1"' in found and 'data-id="c0"' not in found
    handed = (await console.get("/console/mini/conversations?handoff=yes")).text
    assert 'data-id="c2"' in handed and 'data-id="c1"' not in handed
    answered = (await console.get("/console/mini/conversations?outcome=answered")).text
    assert 'data-id="c0"' in answered and 'data-id="c2"' not in answered
    bad = await console.get("/console/mini/conversations?outcome=nonsense")
    assert bad.status_code == 400
    none = (await console.get("/console/mini/conversations", params={"q": "秘密"})).text
    assert "没有符合条件的会话" in none


async def test_transcript_shows_tool_calls_guard_verdicts_citations_and_actions(
    console: httpx.AsyncClient, runtime: Runtime
) -> None:
    await _chats(runtime)
    await login(console, "li")
    page = await console.get("/console/mini/conversations/c0")
    assert page.status_code == 200
    html = page.text
    assert "get_order" in html and "订单 O1 已发货" in html and "&#34;order_id&#34;" in html
    assert 'class="fail">未通过</span>: 明天送达' in html  # the guard's verdict, inline
    assert "faq:ship" in html and "48小时内发货" in html
    assert "start_return" in html and "退货 O1" in html and "129" in html
    missing = await console.get("/console/mini/conversations/nope")
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]
    other = await console.get("/console/mini/conversations/c3")
    assert other.status_code == 404  # the other shop's conversation


async def test_queue_lists_the_handoff_with_reason_waiting_time_and_summary(
    console: httpx.AsyncClient, runtime: Runtime
) -> None:
    await _chats(runtime)
    await login(console, "li")
    html = (await console.get("/console/mini/queue")).text
    row = html[html.index("<tbody>") : html.index("</tbody>")]
    assert "顾客要求转人工" in row and "O9" in row and "U3" in row
    assert "<td>180</td>" in row  # 11:00 → the tests' clock 14:00
    assert 'href="/console/mini/conversations/c2"' in row
    assert (await console.get("/console/mini/conversations/c2")).status_code == 200
