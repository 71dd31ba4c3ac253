"""services/kpis: each figure against a value worked out by hand from conversations stored with
known times (the mini shop, Asia/Shanghai; 2026-11-20 is a Friday)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from xiaoer.domain.errors import BadInput, NotFound
from xiaoer.llm.scripted import ScriptedLLM, say
from xiaoer.runtime import Runtime
from xiaoer.services import conversations, kpis
from xiaoer.store.models import ActionRow, ServiceRecordRow, ShopRow
from xiaoer.store.repositories import ConversationRepository, HandoffRepository

SH = ZoneInfo("Asia/Shanghai")
DAY = (datetime(2026, 11, 20, tzinfo=SH), datetime(2026, 11, 21, tzinfo=SH))


def at(hh: int, mm: int, ss: int = 0, *, day: int = 20) -> datetime:
    return datetime(2026, 11, day, hh, mm, ss, tzinfo=SH)


@dataclass
class Msg:
    role: str  # shopper, bot, notice (the queued notice), agent, whisper
    at: datetime
    meta: dict[str, Any] | None = None


async def chat(rt: Runtime, cid: str, *msgs: Msg) -> None:
    """Store a conversation as the turn and the inbox would: a bot reply points at the buyer
    message it answers, the waiting notice carries `meta.notice`."""
    async with rt.sessions() as s:
        repo = ConversationRepository(s, "mini")
        await repo.create(cid, "U1", "api", msgs[0].at)
        last = None
        for m in msgs:
            if m.role == "shopper":
                last = (await repo.add_message(cid, "shopper", "在吗", m.at)).id
            elif m.role in ("bot", "notice"):
                meta = (m.meta or {}) | ({"notice": "queued"} if m.role == "notice" else {})
                await repo.add_message(cid, "assistant", "好的", m.at, reply_to=last, meta=meta)
            else:
                await repo.add_message(cid, m.role, "您好", m.at, meta={"agent": "小王"})
        await s.commit()


async def hand_over(
    rt: Runtime, cid: str, when: datetime, reason: str, closed: datetime | None = None
) -> None:
    async with rt.sessions() as s:
        row = await HandoffRepository(s, "mini").open(
            cid, "U1", reason, detail="", priority=2, summary={}, now=when
        )
        if closed is not None:
            row.status, row.closed_at = "closed", closed
        await s.commit()


async def report(rt: Runtime, since: datetime = DAY[0], until: datetime = DAY[1]) -> Any:
    async with rt.sessions() as s:
        return await kpis.compute(s, "mini", since, until)


def value(r: Any, key: str) -> float | None:
    return r.figure(key).value


def secs(t: datetime, n: float) -> datetime:
    return t + timedelta(seconds=n)


async def test_taobao_rounds_jd_consults_and_average_response(runtime: Runtime) -> None:
    await chat(runtime, "c1", Msg("shopper", at(10, 0)), Msg("bot", at(10, 0, 20)),
               Msg("shopper", at(10, 10)), Msg("bot", at(10, 10, 5)))  # fmt: skip
    await chat(runtime, "c2", Msg("shopper", at(11, 0)), Msg("agent", at(11, 2, 59)))
    # two buyer messages before the answer: one round, clocked from the first
    await chat(runtime, "c3", Msg("shopper", at(12, 0)), Msg("shopper", at(12, 1)),
               Msg("bot", at(12, 4)))  # fmt: skip
    await chat(runtime, "c4", Msg("shopper", at(13, 0)), Msg("bot", at(13, 3)))  # exactly 180 s
    r = await report(runtime)
    assert value(r, "conversations") == 4 and value(r, "rounds") == 5
    tb = r.figure("taobao_3min_response_rate")
    assert (tb.hits, tb.total, tb.value) == (4, 5, 0.8)  # 20 s, 5 s, 179 s, 180 s; not 240 s
    jd = r.figure("jd_30s_answer_rate")
    assert (jd.hits, jd.total, jd.value) == (1, 4, 0.25)  # consults are first rounds: 20 s only
    assert value(r, "jd_message_left_rate") == 0.0
    assert value(r, "avg_response_seconds") == pytest.approx((20 + 5 + 179 + 240 + 180) / 5)


async def test_platform_windows_are_half_open_in_the_shops_clock(runtime: Runtime) -> None:
    await chat(runtime, "a", Msg("shopper", at(7, 59, 59)), Msg("bot", at(8, 0, 9)))
    await chat(runtime, "b", Msg("shopper", at(8, 0)), Msg("bot", at(8, 0, 10)))
    await chat(runtime, "c", Msg("shopper", at(22, 59, 59)), Msg("bot", at(23, 3, 19)))
    await chat(runtime, "d", Msg("shopper", at(23, 0)), Msg("bot", at(23, 0, 10)))
    r = await report(runtime)
    tb = r.figure("taobao_3min_response_rate")
    assert (tb.hits, tb.total) == (1, 2)  # b in time, c late; a and d outside 08:00–23:00
    jd = r.figure("jd_30s_answer_rate")
    assert (jd.hits, jd.total) == (0, 1)  # only c began 09:00–23:00
    assert value(r, "jd_message_left_rate") == 0.75  # a, b, d are 留言


async def test_jd_unanswered_outside_working_hours_is_left_inside_is_a_miss(
    runtime: Runtime,
) -> None:
    await chat(runtime, "in", Msg("shopper", at(10, 0)), Msg("notice", at(10, 0, 1)))
    await chat(runtime, "after", Msg("shopper", at(19, 0)), Msg("notice", at(19, 0, 1)))
    await chat(runtime, "bot", Msg("shopper", at(20, 0)), Msg("bot", at(20, 0, 5)))
    await chat(runtime, "edge", Msg("shopper", at(18, 0)))  # 18:00 is after 09:00-18:00
    async with runtime.sessions() as s:
        (await s.get(ShopRow, "mini")).working_hours = "09:00-18:00"  # type: ignore[union-attr]
        await s.commit()
    r = await report(runtime)
    jd = r.figure("jd_30s_answer_rate")
    assert (jd.hits, jd.total) == (1, 2)  # online: the bot's 5 s, and the miss at 10:00
    left = r.figure("jd_message_left_rate")
    assert (left.hits, left.total) == (2, 4)  # 19:00 and 18:00 found nobody on duty
    tb = r.figure("taobao_3min_response_rate")
    assert (tb.hits, tb.total) == (1, 4)  # the waiting notice is not an answer
    assert str(r.working_hours) == "09:00-18:00"

    async with runtime.sessions() as s:  # no working hours set: always on duty
        (await s.get(ShopRow, "mini")).working_hours = ""  # type: ignore[union-attr]
        await s.commit()
    r = await report(runtime)
    assert (r.figure("jd_30s_answer_rate").hits, r.figure("jd_30s_answer_rate").total) == (1, 4)
    assert value(r, "jd_message_left_rate") == 0.0


async def test_douyin_human_reply_is_clocked_from_the_handoff(runtime: Runtime) -> None:
    await chat(runtime, "c1", Msg("shopper", at(10, 0)), Msg("bot", at(10, 0, 5)),
               Msg("agent", at(10, 2, 5)), Msg("shopper", at(10, 5)), Msg("agent", at(10, 9)),
               Msg("shopper", at(10, 30)), Msg("bot", at(10, 30, 5)))  # fmt: skip
    await hand_over(runtime, "c1", at(10, 0, 5), "asked", closed=at(10, 20))
    await chat(runtime, "c2", Msg("shopper", at(14, 0)), Msg("bot", at(14, 0, 1)))
    await hand_over(runtime, "c2", at(14, 0, 1), "anger", closed=at(14, 30))  # nobody came
    await chat(runtime, "c3", Msg("shopper", at(14, 50)), Msg("bot", at(14, 50, 2)),
               Msg("shopper", at(15, 1)), Msg("agent", at(15, 1, 30)))  # fmt: skip
    await hand_over(runtime, "c3", at(15, 0), "takeover")  # a human took it: no handed message
    await chat(runtime, "c4", Msg("shopper", at(23, 30)), Msg("bot", at(23, 30, 1)),
               Msg("agent", at(23, 31, 1)))  # fmt: skip
    await hand_over(runtime, "c4", at(23, 30, 1), "asked")  # after 23:00: not 抖店's window
    r = await report(runtime)
    dy = r.figure("douyin_3min_human_reply_rate")
    assert (dy.hits, dy.total, dy.value) == (2, 4, 0.5)  # 120 s ✓, 240 s ✗, never ✗, 30 s ✓
    assert value(r, "human_avg_reply_seconds") == pytest.approx((120 + 240 + 30 + 60) / 4)
    assert value(r, "handoff_rate") == 1.0 and value(r, "answered_without_handoff_rate") == 0.0
    assert r.handoff_reasons == {"asked": 2, "anger": 1, "takeover": 1}


async def _action(rt: Runtime, cid: str, action_id: str, status: str, ledger: bool) -> None:
    async with rt.sessions() as s:
        s.add(ActionRow(id=action_id, shop_id="mini", conversation_id=cid, shopper_id="U1",
                        order_id="SO1001", tool="request_return", summary="退货", status=status,
                        created_at=at(9, 0), updated_at=at(9, 0), expires_at=at(9, 30)))  # fmt: skip
        if ledger:
            s.add(ServiceRecordRow(shop_id="mini", key=action_id, kind="return", shopper_id="U1",
                                   order_id="SO1001", created_at=at(9, 1)))  # fmt: skip
        await s.commit()


async def test_handoffs_verified_resolution_latency_and_tokens(runtime: Runtime) -> None:
    def bot(t: datetime, ms: int, tokens: int) -> Msg:
        return Msg("bot", t, {"latency_ms": ms, "tokens_in": tokens, "tokens_out": tokens // 10})

    await chat(runtime, "c1", Msg("shopper", at(9, 0)), bot(at(9, 0, 1), 1000, 100))
    await chat(runtime, "c2", Msg("shopper", at(9, 10)), bot(at(9, 10, 2), 2000, 200),
               Msg("shopper", at(9, 11)), bot(at(9, 11, 3), 3000, 300))  # fmt: skip
    await chat(runtime, "c3", Msg("shopper", at(9, 20)), bot(at(9, 20, 4), 4000, 400),
               Msg("shopper", at(9, 21)), Msg("notice", at(9, 21), {"latency_ms": 1}))  # fmt: skip
    await hand_over(runtime, "c3", at(9, 20, 4), "model")
    await chat(runtime, "c4", Msg("shopper", at(9, 30)), bot(at(9, 30, 10), 10000, 500))
    await _action(runtime, "c2", "act_done", "executed", ledger=True)
    await _action(runtime, "c4", "act_lost", "executed", ledger=False)  # not in the ledger
    r = await report(runtime)
    assert value(r, "answered_without_handoff_rate") == 0.75  # c1, c2, c4
    assert value(r, "handoff_rate") == 0.25 and r.handoff_reasons == {"model": 1}
    res = r.figure("resolution_verified_rate")
    assert (res.hits, res.total) == (1, 2)  # c2's return is in the ledger, c4's is not
    # nearest rank over 1000, 2000, 3000, 4000, 10000 ms (the notice is not a bot turn)
    assert value(r, "latency_p50_ms") == 3000 and value(r, "latency_p95_ms") == 10000
    assert value(r, "tokens_in_per_turn") == 300 and value(r, "tokens_out_per_turn") == 30
    assert value(r, "csat") is None and "no rating" in r.figure("csat").reason
    assert value(r, "presales_conversion_rate") is None
    assert r.figure("presales_conversion_rate").reason


async def test_an_empty_period_has_no_rates_and_says_why(runtime: Runtime) -> None:
    await chat(runtime, "c1", Msg("shopper", at(10, 0)), Msg("bot", at(10, 0, 20)))
    r = await report(runtime, at(0, 0, day=22), at(0, 0, day=24))
    assert value(r, "conversations") == 0 and value(r, "rounds") == 0
    for key in ("taobao_3min_response_rate", "jd_30s_answer_rate", "jd_message_left_rate",
                "douyin_3min_human_reply_rate", "avg_response_seconds", "handoff_rate",
                "latency_p50_ms", "tokens_in_per_turn", "csat"):  # fmt: skip
        f = r.figure(key)
        assert f.value is None and f.reason.startswith("期间没有"), key
    assert r.handoff_reasons == {}
    assert [d.day.isoformat() for d in r.daily] == ["2026-11-22", "2026-11-23"]
    data = r.as_dict()
    assert data["figures"]["taobao_3min_response_rate"]["value"] is None
    assert data["daily"][0]["taobao_3min_response_rate"] is None


async def test_the_daily_series_follows_the_shops_calendar(runtime: Runtime) -> None:
    # 23:30 on the 20th in Shanghai and 00:30 on the 21st are the same UTC day (15:30, 16:30)
    await chat(runtime, "late", Msg("shopper", at(23, 30)), Msg("bot", at(23, 30, 10)))
    await chat(runtime, "early", Msg("shopper", at(0, 30, day=21)),
               Msg("bot", at(0, 30, 10, day=21)))  # fmt: skip
    await chat(runtime, "noon", Msg("shopper", at(12, 0, day=21)),
               Msg("bot", at(12, 5, day=21)))  # fmt: skip
    assert at(23, 30).astimezone(UTC).date() == at(0, 30, day=21).astimezone(UTC).date()
    r = await report(runtime, at(0, 0), at(0, 0, day=22))
    days = r.as_dict()["daily"]
    assert [(d["day"], d["conversations"]) for d in days] == [("2026-11-20", 1), ("2026-11-21", 2)]
    assert days[0]["taobao_3min_response_rate"] is None  # 23:30 is outside 08:00–23:00
    assert days[1]["taobao_3min_response_rate"] == 0.0  # the noon round waited 300 s
    assert value(r, "conversations") == 3


async def test_a_real_turn_is_read_as_stored(runtime: Runtime, llm: ScriptedLLM) -> None:
    """Through the turn itself (scripted model, frozen clock 14:00): an answered message, a
    request for a human (its notice is the turn's reply), then a message while queued, which
    gets only the waiting notice."""
    llm.steps = [say("您好，在的")]
    cid = (await runtime.assistant().turn("mini", "U1", "你好")).conversation_id
    await runtime.assistant().turn("mini", "U1", "转人工", conversation_id=cid)
    await runtime.assistant().turn("mini", "U1", "还在吗", conversation_id=cid)
    r = await report(runtime)
    tb = r.figure("taobao_3min_response_rate")
    assert (tb.hits, tb.total) == (2, 3)
    assert r.handoff_reasons == {"asked": 1} and value(r, "handoff_rate") == 1.0


async def test_bad_periods_and_unknown_shops_are_clear_errors(runtime: Runtime) -> None:
    async with runtime.sessions() as s:
        with pytest.raises(NotFound, match="'nope'"):
            await kpis.compute(s, "nope", *DAY)
        with pytest.raises(BadInput, match="empty period"):
            await kpis.compute(s, "mini", DAY[1], DAY[0])
        with pytest.raises(BadInput, match="tz-aware"):
            await kpis.compute(s, "mini", datetime(2026, 11, 20), datetime(2026, 11, 21))
    now = at(14, 0)
    with pytest.raises(BadInput, match="not a date"):
        kpis.period("Asia/Shanghai", "2026-13-01", None, now)
    with pytest.raises(BadInput, match="after"):
        kpis.period("Asia/Shanghai", "2026-11-21", "2026-11-20", now)
    with pytest.raises(BadInput, match="at most"):
        kpis.period("Asia/Shanghai", "2024-01-01", "2026-11-20", now)
    assert kpis.period("Asia/Shanghai", None, None, now) == (
        datetime(2026, 10, 22, tzinfo=SH),
        datetime(2026, 11, 21, tzinfo=SH),
    )  # the 30 days up to today, today included


async def test_windows_and_days_are_the_shops_timezone(runtime: Runtime) -> None:
    # 10:00 in Shanghai is 02:00 in UTC: inside 淘宝's 08:00–23:00 for a Shanghai shop only
    await chat(runtime, "c1", Msg("shopper", at(10, 0)), Msg("bot", at(10, 0, 20)))
    assert value(await report(runtime), "taobao_3min_response_rate") == 1.0
    async with runtime.sessions() as s:
        (await s.get(ShopRow, "mini")).timezone = "UTC"  # type: ignore[union-attr]
        await s.commit()
    r = await report(runtime)
    assert r.timezone == "UTC" and r.figure("taobao_3min_response_rate").total == 0
    assert r.figure("jd_message_left_rate").hits == 1  # 02:00 is outside 09:00–23:00
    assert [d.day.isoformat() for d in r.daily] == ["2026-11-19", "2026-11-20"]


async def test_csat_counts_the_ratings_given_in_the_period_4_and_5_satisfied(
    runtime: Runtime,
) -> None:
    """满意率: ratings given in the period scored 4 or 5 / ratings given; rating again replaces
    the score; a conversation from the day before counts on the day it was rated."""
    for cid, day in (("c1", 20), ("c2", 20), ("c3", 20), ("old", 19), ("late", 20)):
        await chat(runtime, cid, Msg("shopper", at(10, 0, day=day)),
                   Msg("bot", at(10, 0, 20, day=day)))  # fmt: skip

    async def rate(cid: str, score: int, when: datetime) -> conversations.Rating:
        return await conversations.rate(runtime.sessions, "mini", "U1", cid, score, " 好 ", when)

    await rate("c1", 5, at(10, 5))
    await rate("c2", 2, at(10, 5))
    again = await rate("c2", 4, at(10, 6))  # the shopper changed their mind: 4 stands
    assert (again.score, again.comment, again.rated_at) == (4, "好", at(10, 6))
    await rate("c3", 1, at(10, 5))
    await rate("old", 5, at(9, 0))  # talked on the 19th, rated on the 20th
    await rate("late", 1, at(0, 10, day=21))  # rated the next day: not this period's
    f = (await report(runtime)).figure("csat")
    assert (f.value, f.hits, f.total) == (0.75, 3, 4)
    async with runtime.sessions() as s:
        kept = await conversations.rating(s, "mini", "c2")
    assert kept is not None and kept.score == 4


async def test_a_rating_is_the_shoppers_own_answered_conversation_1_to_5(
    runtime: Runtime,
) -> None:
    await chat(runtime, "asked", Msg("shopper", at(10, 0)))  # nobody answered yet
    await chat(runtime, "done", Msg("shopper", at(10, 0)), Msg("bot", at(10, 0, 5)))
    sessions = runtime.sessions
    with pytest.raises(BadInput, match="no answer"):
        await conversations.rate(sessions, "mini", "U1", "asked", 5, "", at(10, 1))
    with pytest.raises(NotFound):  # another shopper's conversation is not theirs to rate
        await conversations.rate(sessions, "mini", "U2", "done", 5, "", at(10, 1))
    with pytest.raises(NotFound):  # nor another shop's
        await conversations.rate(sessions, "other", "U1", "done", 5, "", at(10, 1))
    for score in (0, 6):
        with pytest.raises(BadInput, match="1 to 5"):
            await conversations.rate(sessions, "mini", "U1", "done", score, "", at(10, 1))
    f = (await report(runtime)).figure("csat")
    assert f.value is None and f.total == 0 and f.reason.startswith("期间没有")
