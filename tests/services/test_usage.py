"""Metering: a shopper counts once a day (the shop's calendar) when they sent a message that
day; bot, agent and whisper messages do not count; the plan a period needs is the smallest
that covers its busiest day; `GET /v1/usage` is scoped to the merchant key's shop, with bad
dates a 400; `XIAOER_PLANS` is read and checked from the environment."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from pydantic import ValidationError

from minishop import write_bundle
from xiaoer.api.auth import issue_api_key
from xiaoer.config import Plan, Settings
from xiaoer.runtime import Runtime
from xiaoer.services.usage import usage_for_dates
from xiaoer.store.repositories import ConversationRepository

SH = ZoneInfo("Asia/Shanghai")
PLANS = [Plan(name="大", max_daily_uv=5), Plan(name="中", max_daily_uv=2)]


async def _talk(rt: Runtime, shop: str, cid: str, shopper: str, *times: datetime) -> None:
    async with rt.sessions() as s:
        repo = ConversationRepository(s, shop)
        await repo.create(cid, shopper, "api", times[0])
        for at in times:
            q = await repo.add_message(cid, "shopper", "在吗", at)
            await repo.add_message(cid, "assistant", "在的", at, reply_to=q.id)
        await s.commit()


@pytest.fixture
async def talked(runtime: Runtime, tmp_path: Path) -> Runtime:
    await runtime.import_shop(write_bundle(tmp_path / "other", shop_id="other"))
    day = datetime(2026, 11, 19, 10, 0, tzinfo=SH)
    # 19th: U1 twice (two conversations) and U2; 23:59 and 00:01 fall on their own days
    await _talk(runtime, "mini", "a", "U1", day, day.replace(hour=23, minute=59))
    await _talk(runtime, "mini", "b", "U1", day.replace(hour=15))
    await _talk(runtime, "mini", "c", "U2", day.replace(hour=11))
    await _talk(runtime, "mini", "d", "U2", datetime(2026, 11, 20, 0, 1, tzinfo=SH))
    await _talk(runtime, "other", "e", "U1", day)  # another shop's shopper: not mini's
    async with runtime.sessions() as s:  # a human's and a whisper on the 20th: not shoppers
        repo = ConversationRepository(s, "mini")
        await repo.add_message("a", "agent", "您好", datetime(2026, 11, 20, 9, tzinfo=SH))
        await repo.add_message("a", "whisper", "退款", datetime(2026, 11, 20, 9, tzinfo=SH))
        await s.commit()
    return runtime


async def test_a_shopper_counts_once_a_day_in_the_shops_calendar(talked: Runtime) -> None:
    async with talked.sessions() as s:
        report = await usage_for_dates(s, "mini", "2026-11-18", "2026-11-20", talked.clock(),
                                       free_daily_uv=1, plans=PLANS)  # fmt: skip
    body = report.as_dict()
    assert [(d["day"], d["uv"]) for d in body["days"]] == [
        ("2026-11-18", 0), ("2026-11-19", 2), ("2026-11-20", 1),
    ]  # fmt: skip
    assert (body["peak_day"], body["peak_uv"], body["total_shopper_days"]) == ("2026-11-19", 2, 3)
    assert body["days_over_free"] == 1
    assert body["plan_needed"] == "中"  # the smallest plan covering 2, whatever the order


async def test_the_plan_needed_is_free_under_the_free_tier_and_none_above_every_plan(
    talked: Runtime,
) -> None:
    async with talked.sessions() as s:
        free = await usage_for_dates(s, "mini", "2026-11-19", "2026-11-19", talked.clock(),
                                     free_daily_uv=2, plans=PLANS)  # fmt: skip
        beyond = await usage_for_dates(s, "mini", "2026-11-19", "2026-11-19", talked.clock(),
                                       free_daily_uv=0, plans=[Plan(name="小", max_daily_uv=1)])  # fmt: skip
    assert free.plan_needed() == "free" and free.as_dict()["days_over_free"] == 0
    async with talked.sessions() as s:
        quiet = await usage_for_dates(s, "mini", "2026-11-01", "2026-11-02", talked.clock(),
                                      free_daily_uv=2, plans=PLANS)  # fmt: skip
    assert (quiet.as_dict()["peak_day"], quiet.as_dict()["peak_uv"]) == (None, 0)
    assert beyond.plan_needed() is None


async def test_usage_over_http_is_the_merchants_own_shop(
    talked: Runtime, merchant: httpx.AsyncClient
) -> None:
    r = await merchant.get("/v1/usage", params={"since": "2026-11-19", "until": "2026-11-19"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["shop_id"] == "mini" and body["days"] == [{"day": "2026-11-19", "uv": 2}]
    assert body["free_daily_uv"] == 2000 and body["plan_needed"] == "free"
    assert [p["name"] for p in body["plans"]] == ["基础套餐", "专业套餐"]
    other = {"Authorization": f"Bearer {await issue_api_key(talked.sessions, 'other')}"}
    r = await merchant.get("/v1/usage", params={"since": "2026-11-19", "until": "2026-11-19"},
                           headers=other)  # fmt: skip
    assert r.json()["shop_id"] == "other" and r.json()["days"] == [{"day": "2026-11-19", "uv": 1}]
    bad = await merchant.get("/v1/usage", params={"since": "11/19"})
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "BadInput"
    assert (
        await merchant.get("/v1/usage", headers={"Authorization": "Bearer no"})
    ).status_code == 401


def test_plans_come_from_the_environment_and_are_checked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(
        "XIAOER_PLANS", '[{"name": "旗舰版", "max_daily_uv": 100000, "yuan_per_month": 999}]'
    )
    monkeypatch.setenv("XIAOER_FREE_DAILY_UV", "500")
    settings = Settings(home=tmp_path)
    assert settings.free_daily_uv == 500
    assert settings.plans == [Plan(name="旗舰版", max_daily_uv=100000, yuan_per_month=999)]
    monkeypatch.setenv("XIAOER_PLANS", '[{"name": "坏", "max_daily_uv": 0}]')
    with pytest.raises(ValidationError):
        Settings(home=tmp_path)
