"""What `xiaoer eval …` does, kept out of cli.py so that module stays a thin layer."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from xiaoer.config import Settings
from xiaoer.domain.errors import BadInput
from xiaoer.evals.report import summarize, to_html, trial_record
from xiaoer.evals.runner import run_suite
from xiaoer.evals.scenario import load_scenarios
from xiaoer.evals.scoring import Trial
from xiaoer.runtime import Runtime


def _select(target: str, limit: int | None, category: str | None) -> list[Any]:
    scenarios = load_scenarios(target)
    if category:
        scenarios = [s for s in scenarios if s.category == category]
        if not scenarios:
            raise BadInput(f"no scenarios in category {category!r}")
    return scenarios[:limit] if limit else scenarios


def _print_summary(out: Console, summary: dict[str, Any]) -> None:
    table = Table("metric", "value", title="xiaoer eval")
    for key, value in summary.items():
        table.add_row(key, json.dumps(value, ensure_ascii=False))
    out.print(table)


async def run_scenarios(
    settings: Settings,
    out: Console,
    err: Console,
    target: str,
    *,
    user: str,
    trials: int,
    limit: int | None,
    category: str | None,
    json_out: Path | None,
    html_out: Path | None,
    load_llm: Callable[[Runtime], None],
) -> dict[str, Any]:
    if user not in ("scripted", "llm"):
        raise BadInput(f"--user must be scripted or llm, not {user!r}")
    scenarios = _select(target, limit, category)
    rt = await Runtime.open(settings)
    try:
        load_llm(rt)
        llm = rt.llm()
        progress = Progress(
            TextColumn("[bold]评测 / eval"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[last]}"), TimeElapsedColumn(), console=err,
        )  # fmt: skip
        with progress:
            task = progress.add_task("eval", total=len(scenarios) * trials, last="")

            def tick(t: Trial) -> None:
                mark = "✓" if t.passed else "✗"
                progress.update(task, advance=1, last=f"{mark} {t.scenario.id}")

            results, wall = await run_suite(
                scenarios, llm, trials=trials, shopper_llm=llm if user == "llm" else None,
                on_trial=tick,
            )  # fmt: skip
    finally:
        await rt.close()
    summary = summarize(results, trials, wall)
    _print_summary(out, summary)
    for t in results:
        if not t.passed:
            out.print(f"[red]✗[/red] {t.scenario.id}#{t.trial}: " + "; ".join(t.reasons))
    report = {"summary": summary, "trials": [trial_record(t) for t in results]}
    if json_out:
        _write(json_out, json.dumps(report, ensure_ascii=False, indent=2))
    if html_out:
        _write(html_out, to_html(summary, results))
    return report


def _write(path: Path, text: str) -> None:
    """Reports are written once at the end of a run; blocking here is fine."""
    path.write_text(text, encoding="utf-8")


def run_tau(
    out: Console, folder: Path, *, agent: str, limit: int | None, json_out: Path | None
) -> dict[str, Any]:
    from xiaoer.evals.tau import run_tasks, summary

    if not (folder / "tasks_train.json").is_file():
        raise BadInput(f"no τ-retail data in {str(folder)!r} (expected tasks_train.json there)")
    if agent not in ("replay", "noop"):
        raise BadInput(
            f"agent {agent!r} is not available yet: replay and noop prove the scorer; "
            "running xiaoer and the baseline on τ-retail is part of issue 4's remaining work"
        )
    scores = run_tasks(folder, None, agent, limit=limit)
    result = summary(scores, n_trials=1)
    out.print_json(json.dumps(result, ensure_ascii=False))
    if json_out:
        payload = {"summary": result, "tasks": [s.__dict__ for s in scores]}
        _write(json_out, json.dumps(payload, ensure_ascii=False, indent=2))
    return result
