"""The dashboard's charts: drawn by pygal as SVG inside the page (no script), one per series
group, with a gap — not a zero — on a day with nothing to count."""

from __future__ import annotations

import re

import httpx

from console_fixture import chats, login
from xiaoer.console.charts import RATES, daily_charts
from xiaoer.runtime import Runtime
from xiaoer.services import kpis as kpis_service


async def test_a_range_of_days_gets_three_charts_and_no_script(
    console: httpx.AsyncClient, runtime: Runtime
) -> None:
    await chats(runtime)
    await login(console, "boss")
    page = await console.get("/console/mini/?since=2026-11-18&until=2026-11-20")
    assert page.status_code == 200
    figures = re.findall(
        r'<figure class="chart" id="chart-(\w+)" role="img" aria-label="([^"]+)"', page.text
    )
    assert [key for key, _ in figures] == ["rates", "wait", "conversations"]
    assert page.text.count("<svg") == 3 and "<script" not in page.text
    taobao = kpis_service.LABELS["taobao_3min_response_rate"][0]
    assert figures[0][1] == "平台考核指标（%）" and page.text.count(taobao) >= 2  # legend + table
    one = await console.get("/console/mini/?since=2026-11-20&until=2026-11-20")
    assert "<svg" not in one.text and "选择两天以上可看趋势图" in one.text


async def test_an_empty_day_is_a_gap_not_a_zero(
    console: httpx.AsyncClient, runtime: Runtime
) -> None:
    await chats(runtime)
    async with runtime.sessions() as s:
        report = await kpis_service.compute_for_dates(
            s, "mini", "2026-11-19", "2026-11-20", runtime.clock()
        )
    empty, busy = report.daily
    assert next(f.value for f in empty.figures if f.key == "taobao_3min_response_rate") is None
    charts = daily_charts(report.daily, kpis_service.LABELS, "en")
    assert [c.title for c in charts] == [
        "Platform rates (%)",
        "average response time (s)",
        "conversations",
    ]
    rates = str(charts[0].svg)
    drawn = re.findall(r'<desc class="x_label">([^<]*)</desc>', rates)  # one per value drawn
    assert "11-19" not in drawn  # the empty day: no value, no dot
    busy_rates = [f for f in busy.figures if f.key in RATES and f.value is not None]
    assert busy_rates and drawn.count("11-20") == len(busy_rates)
    values = re.findall(r'<desc class="value">([^<]*)</desc>', rates)
    expected = sorted(f"{round(f.value * 100, 1):g}" for f in busy_rates)
    assert sorted(v.rstrip("0").rstrip(".") if "." in v else v for v in values) == expected
