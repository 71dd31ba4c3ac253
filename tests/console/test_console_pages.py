"""Console pages: the dashboard's KPI figures, the conversations list, a transcript with its
tool calls and guard verdicts, and the handoff queue, all from conversations made here."""

from __future__ import annotations

import re

import httpx

from console_fixture import cell, chats, csrf_of, login
from xiaoer.runtime import Runtime
from xiaoer.services import conversations


async def test_dashboard_shows_the_kpis_of_the_period(
    console: httpx.AsyncClient, runtime: Runtime
) -> None:
    await chats(runtime)
    await login(console, "boss")
    page = await console.get("/console/mini/?since=2026-11-20&until=2026-11-20")
    assert page.status_code == 200
    # 淘宝 3-min: c0 in 20 s, c1 in 200 s (late), c2 never answered → 1 of 3
    assert cell(page.text, "taobao_3min_response_rate") == "33.3%"
    assert cell(page.text, "conversations") == "3"  # not the other shop's
    assert cell(page.text, "handoff_rate") == "33.3%"
    assert "选择两天以上可看趋势图" in page.text  # one day: the table, no charts
    # the form shows the period asked for (both days included), so re-applying keeps it
    assert 'name="since" type="date" value="2026-11-20"' in page.text
    assert 'name="until" type="date" value="2026-11-20"' in page.text
    assert page.text.count('<tr><th scope="row">2026-11-') == 1  # one day in the series
    empty = await console.get("/console/mini/?since=2026-11-01&until=2026-11-01")
    assert cell(empty.text, "conversations") == "0"
    bad = await console.get("/console/mini/?since=yesterday")
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.text


async def test_conversations_search_and_filters(
    console: httpx.AsyncClient, runtime: Runtime
) -> None:
    await chats(runtime)
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


async def test_conversations_are_filtered_by_the_shoppers_rating(
    console: httpx.AsyncClient, runtime: Runtime
) -> None:
    """差评 first: a merchant reviews the conversations shoppers scored 1–2."""
    await chats(runtime)
    now = runtime.clock()
    await conversations.rate(runtime.sessions, "mini", "U1", "c0", 2, "太慢", now)
    await conversations.rate(runtime.sessions, "mini", "U2", "c1", 5, "", now)
    await login(console, "li")
    low = (await console.get("/console/mini/conversations?rated=low")).text
    assert 'data-id="c0"' in low and 'data-id="c1"' not in low and "2/5" in low
    high = (await console.get("/console/mini/conversations?rated=high")).text
    assert 'data-id="c1"' in high and 'data-id="c0"' not in high
    unrated = (await console.get("/console/mini/conversations?rated=none")).text
    assert 'data-id="c2"' in unrated and 'data-id="c0"' not in unrated
    bad = await console.get("/console/mini/conversations?rated=awful")
    assert bad.status_code == 400


async def test_transcript_shows_tool_calls_guard_verdicts_citations_and_actions(
    console: httpx.AsyncClient, runtime: Runtime
) -> None:
    await chats(runtime)
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
    await chats(runtime)
    await login(console, "li")
    html = (await console.get("/console/mini/queue")).text
    row = html[html.index("<tbody>") : html.index("</tbody>")]
    assert "顾客要求转人工" in row and "O9" in row and "U3" in row
    assert "<td>180</td>" in row  # 11:00 → the tests' clock 14:00
    assert 'href="/console/mini/conversations/c2"' in row
    assert (await console.get("/console/mini/conversations/c2")).status_code == 200


async def test_the_owner_rotates_the_api_key_and_sees_it_once(
    console: httpx.AsyncClient, runtime: Runtime
) -> None:
    await login(console, "boss")
    page = await console.get("/console/mini/settings")
    assert 'id="widget-snippet"' in page.text and "/widget.js" in page.text
    r = await console.post("/console/mini/settings/api-key", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 200
    key = re.search(r'<section id="new-key" role="alert">.*?<pre>([^<]+)</pre>', r.text, re.S)
    assert key is not None and key.group(1).startswith("xk_mini_")
    minted = await console.post(
        "/v1/shopper-tokens", json={"shopper_id": "U1"},
        headers={"Authorization": f"Bearer {key.group(1)}"},
    )  # fmt: skip
    assert minted.status_code == 200  # the new key works
    again = await console.get("/console/mini/settings")
    assert key.group(1) not in again.text and 'id="new-key"' not in again.text  # shown once
    assert key.group(1)[-4:] in again.text  # its hint
    await login(console, "li")
    assert (await console.post("/console/mini/settings/api-key", data={})).status_code in (400, 403)


async def test_settings_show_the_model_backend_and_the_handoff_rules_never_a_key(
    console: httpx.AsyncClient, runtime: Runtime
) -> None:
    from xiaoer.console.views import _llm_backend

    await login(console, "boss")
    page = (await console.get("/console/mini/settings")).text
    backend = page[page.index('id="llm-backend"') : page.index('id="handoff-rules"')]
    assert "本机内置模型" in backend and "每轮时限" in backend
    rules = page[page.index('id="handoff-rules"') :]
    assert "连续答不上几轮后转：2" in rules and 'href="/console/mini/policy"' in rules
    endpoint = runtime.settings.model_copy(
        update={"llm_base_url": "https://llm.example.cn/v1", "llm_model": "qwen-plus",
                "llm_api_key": "sk-secret"}
    )  # fmt: skip
    shown = _llm_backend(endpoint)
    assert shown == {"host": "llm.example.cn", "model": "qwen-plus", "deadline_s": 30.0}
    assert "sk-secret" not in repr(shown)


async def test_the_owner_adds_and_removes_agent_accounts(
    console: httpx.AsyncClient, runtime: Runtime
) -> None:
    from xiaoer.services import accounts as accounts_service

    await login(console, "boss")
    token = csrf_of((await console.get("/console/mini/settings")).text)
    new = {"csrf": token, "name": "wang", "password": "wang-pass-1"}
    r = await console.post("/console/mini/settings/accounts", data=new)
    assert r.status_code == 303 and r.headers["location"].endswith("done=agent_added")
    page = (await console.get(r.headers["location"])).text
    assert "已添加客服账号" in page and 'data-name="wang"' in page
    assert (await console.post("/console/mini/settings/accounts", data=new)).status_code == 409
    short = new | {"name": "zhao", "password": "short"}
    assert (await console.post("/console/mini/settings/accounts", data=short)).status_code == 400

    async with runtime.sessions() as s:
        by_name = {a.name: a for a in await accounts_service.all_accounts(s)}
    wang, boss = by_name["wang"], by_name["boss"]
    assert (wang.role, wang.shops) == ("agent", ("mini",))
    # an owner is not removed from here
    r = await console.post(
        f"/console/mini/settings/accounts/{boss.id}/remove", data={"csrf": token}
    )
    assert r.status_code == 403

    agent = httpx.AsyncClient(transport=console._transport, base_url=str(console.base_url))
    async with agent:
        await login(agent, "wang", "wang-pass-1")
        assert (await agent.get("/console/mini/queue")).status_code == 200
        assert (await agent.get("/console/mini/settings")).status_code == 403  # owner-only
        r = await console.post(
            f"/console/mini/settings/accounts/{wang.id}/remove", data={"csrf": token}
        )
        assert r.headers["location"].endswith("done=agent_removed")
        gone = await agent.get("/console/mini/queue")  # at once: its only shop, so deleted
        assert gone.status_code == 303 and gone.headers["location"] == "/console/login"
    async with runtime.sessions() as s:
        assert "wang" not in {a.name for a in await accounts_service.all_accounts(s)}
    # another shop's owner cannot touch this shop's agents
    li = next(a for a in by_name.values() if a.name == "li")
    await login(console, "far")
    token = csrf_of((await console.get("/console/other/settings")).text)
    r = await console.post(f"/console/other/settings/accounts/{li.id}/remove", data={"csrf": token})
    assert r.status_code == 404
