"""质检: every conversation read for negative service — unanswered, slow, stalling, arguing,
promises the record does not back, actions the policy blocked — each finding with its line;
the owner confirms or dismisses, and a dismissed finding leaves the rates."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import httpx

from console_fixture import SH, csrf_of, login
from xiaoer.runtime import Runtime
from xiaoer.store.models import ActionRow
from xiaoer.store.repositories import ActionRepository, ConversationRepository

QC = "/console/mini/inspection"
T = datetime(2026, 11, 20, 10, 0, tzinfo=SH)


async def _conversations(runtime: Runtime) -> None:
    async with runtime.sessions() as s:
        repo = ConversationRepository(s, "mini")

        async def say(cid: str, role: str, text: str, seconds: int) -> int:
            meta = {"agent": "li"} if role == "agent" else None
            return (
                await repo.add_message(cid, role, text, T + timedelta(seconds=seconds), meta=meta)
            ).id

        for cid, shopper in (("q1", "U1"), ("q2", "U2"), ("q3", "U3"), ("q4", "U1"), ("q5", "U2")):
            await repo.create(cid, shopper, "api", T)
        await say("q1", "shopper", "在吗，发票开了没", 0)  # never answered
        await say("q2", "shopper", "尺码偏小吗", 0)
        await say("q2", "agent", "你自己没看清楚尺码表吧", 300)  # slow, arguing
        await say("q3", "shopper", "SO1002 退款到哪一步了", 0)
        await say("q3", "assistant", "好的，请稍等，我帮您查一下", 10)  # then nothing: stalling
        await say("q3", "shopper", "？？", 120)
        await say("q3", "assistant", "已为您退款", 125)  # nothing executed: overpromise
        await say("q4", "shopper", "SO2001 退货", 0)
        proposed = await say("q4", "assistant", "可以为您办理退货，请确认", 8)
        await say("q5", "shopper", "几天发货", 0)
        await say("q5", "assistant", "付款后48小时内发货", 9)  # fine
        await ActionRepository(s, "mini").add(
            ActionRow(
                id="act_b", shop_id="mini", conversation_id="q4", shopper_id="U1",
                order_id="SO2001", tool="request_return", arguments={"order_id": "SO2001"},
                summary="订单 SO2001 退货退款 ¥899", amount_fen=89900, status="blocked",
                policy_verdict={"allowed": False, "reason": "签收已超过7天"},
                proposed_message_id=proposed, created_at=T, updated_at=T + timedelta(seconds=30),
                expires_at=T + timedelta(hours=1),
            )
        )  # fmt: skip
        await s.commit()


def _rate(html: str, key: str) -> str:
    found = re.search(rf'<tr data-key="{key}"><th scope="row">[^<]*</th>\s*<td>([^<]*)</td>', html)
    assert found, key
    return found.group(1)


def _findings(html: str) -> list[tuple[str, str]]:
    return re.findall(r'data-finding="([^"]+)" data-verdict="([^"]*)"', html)


async def test_each_pattern_is_found_with_its_line_and_rates_count_conversations(
    console: httpx.AsyncClient, runtime: Runtime
) -> None:
    await _conversations(runtime)
    await login(console, "boss")
    page = await console.get(f"{QC}?since=2026-11-20&until=2026-11-20")
    assert page.status_code == 200
    found = {key.split(":")[0] + ":" + key.split(":")[2] for key, _ in _findings(page.text)}
    assert found == {
        "q1:unanswered", "q2:slow", "q2:arguing", "q3:stalling", "q3:overpromise",
        "q4:wrong_policy",
    }  # fmt: skip
    assert "5 个会话已检查" in page.text
    assert _rate(page.text, "unanswered") == "20.0%" and _rate(page.text, "arguing") == "20.0%"
    assert "你自己没看清楚尺码表吧" in page.text and "签收已超过7天" in page.text
    assert "300s" in page.text  # the slow reply's wait

    token = csrf_of(page.text)
    arguing = next(k for k, _ in _findings(page.text) if k.endswith(":arguing"))
    r = await console.post(
        f"{QC}/review",
        data={"csrf": token, "finding": arguing, "verdict": "dismissed", "note": "语气误判"},
    )
    assert r.status_code == 303 and "done=qc_reviewed" in r.headers["location"]
    page = await console.get(f"{QC}?since=2026-11-20&until=2026-11-20")
    assert _rate(page.text, "arguing") == "0.0%"  # dismissed: out of the rate
    assert (arguing, "dismissed") in _findings(page.text)
    assert _findings(page.text)[-1] == (arguing, "dismissed")  # reviewed ones after the queue
    only = await console.get(f"{QC}?since=2026-11-20&until=2026-11-20&pattern=slow")
    assert [k.split(":")[2] for k, _ in _findings(only.text)] == ["slow"]


async def test_bad_reviews_get_reasons_and_agents_may_not(
    console: httpx.AsyncClient, runtime: Runtime
) -> None:
    await _conversations(runtime)
    await login(console, "boss")
    token = csrf_of((await console.get(QC)).text)
    for data, status in (
        ({"finding": "q1:1:unanswered", "verdict": "maybe"}, 400),
        ({"finding": "q1:x:unanswered", "verdict": "confirmed"}, 400),
        ({"finding": "q1:1:rudeness", "verdict": "confirmed"}, 400),
        ({"finding": "nope:1:slow", "verdict": "confirmed"}, 404),
    ):
        r = await console.post(f"{QC}/review", data={"csrf": token, **data})
        assert r.status_code == status, data
    assert (await console.get(f"{QC}?pattern=rudeness")).status_code == 400
    await login(console, "li")
    assert (await console.get(QC)).status_code == 403
