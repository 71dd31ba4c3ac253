"""The dashboard's charts over time, drawn by pygal (a kept chart library) as static SVG inside
the page: no script (the console's CSP allows none), each chart named for screen readers, and
the same figures in the daily table under it. A day with nothing to count is a gap in a line,
never a 0."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import pygal
from markupsafe import Markup
from pygal.style import Style

from xiaoer.services.kpis import Day

__all__ = ["Chart", "daily_charts"]

RATES = (
    "taobao_3min_response_rate",
    "jd_30s_answer_rate",
    "douyin_3min_human_reply_rate",
    "answered_without_handoff_rate",
    "handoff_rate",
    "csat",
)
SECONDS = ("avg_response_seconds",)
COUNTS = ("conversations",)

_STYLE = Style(
    background="white",
    plot_background="white",
    foreground="#1f2328",
    foreground_strong="#1f2328",
    foreground_subtle="#57606a",
    font_family="system-ui, 'PingFang SC', 'Noto Sans CJK SC', 'WenQuanYi Zen Hei', sans-serif",
    colors=("#0b57d0", "#b42318", "#1a7f37", "#8250df", "#bf8700"),
    label_font_size=12,
    major_label_font_size=12,
    legend_font_size=12,
    title_font_size=14,
)


@dataclass(frozen=True, slots=True)
class Chart:
    key: str
    title: str
    svg: Markup


def _series(days: Sequence[Day], key: str, scale: float = 1.0) -> list[float | None]:
    out: list[float | None] = []
    for d in days:
        value = next((f.value for f in d.figures if f.key == key), None)
        out.append(None if value is None else round(value * scale, 1))
    return out


_SCRIPT = re.compile(r"<script\b.*?</script>", re.S)


def _render(chart: pygal.Graph) -> Markup:
    """The chart's SVG without pygal's inline config script (the page runs no script; the
    tooltips it would drive are the table's figures)."""
    svg = _SCRIPT.sub("", chart.render(is_unicode=True))
    return Markup(svg)  # pygal's own SVG of our figures (it escapes the labels it writes)


def daily_charts(days: Sequence[Day], labels: dict[str, tuple[str, str]], lang: str) -> list[Chart]:
    """Three charts of the daily series: the platforms' rates (%), the mean response time (s)
    and the conversations per day. None when there is a single day (a table says it all)."""
    if len(days) < 2:
        return []
    en = lang == "en"

    def label(key: str) -> str:
        return labels[key][1 if en else 0]

    config = {
        "style": _STYLE, "js": [], "disable_xml_declaration": True, "width": 820,
        "height": 300, "show_dots": True, "dots_size": 2, "x_label_rotation": 0,
        "legend_at_bottom": True, "legend_at_bottom_columns": 3, "truncate_legend": -1,
        "print_values": False, "allow_interruptions": True, "show_minor_x_labels": False,
    }  # fmt: skip
    x_labels = [d.day.strftime("%m-%d") for d in days]
    step = max(1, len(days) // 10)
    major = x_labels[::step]
    charts: list[Chart] = []

    title = "平台考核指标（%）" if not en else "Platform rates (%)"
    rates = pygal.Line(title=title, range=(0, 100), **config)
    rates.x_labels, rates.x_labels_major = x_labels, major
    for key in RATES:
        rates.add(label(key), _series(days, key, 100))
    charts.append(Chart("rates", title, _render(rates)))

    title = label("avg_response_seconds")  # the label names its unit
    wait = pygal.Line(title=title, show_legend=False, **config)
    wait.x_labels, wait.x_labels_major = x_labels, major
    wait.add(label("avg_response_seconds"), _series(days, "avg_response_seconds"))
    charts.append(Chart("wait", title, _render(wait)))

    title = label("conversations")
    volume = pygal.Bar(title=title, show_legend=False, **config)
    volume.x_labels, volume.x_labels_major = x_labels, major
    volume.add(title, _series(days, "conversations"))
    charts.append(Chart("conversations", title, _render(volume)))
    return charts
