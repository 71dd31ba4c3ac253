"""What `xiaoer eval …` does, kept out of cli.py so that module stays a thin layer."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from xiaoer.config import Settings
from xiaoer.domain.errors import BadInput
from xiaoer.evals.compare import compare, load_report
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


def _progress(label: str, err: Console) -> Progress:
    """A bar with the count done and the last result (its task needs a `last` field)."""
    return Progress(
        TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[last]}"), TimeElapsedColumn(), console=err,
    )  # fmt: skip


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
    keep: Path | None = None,
) -> dict[str, Any]:
    if user not in ("scripted", "llm"):
        raise BadInput(f"--user must be scripted or llm, not {user!r}")
    scenarios = _select(target, limit, category)
    rt = await Runtime.open(settings)
    try:
        load_llm(rt)
        llm = rt.llm()
        progress = _progress("评测 / eval", err)
        started = time.perf_counter()
        done: list[Trial] = []
        with progress:
            task = progress.add_task("eval", total=len(scenarios) * trials, last="")

            def tick(t: Trial) -> None:
                mark = "✓" if t.passed else "✗"
                progress.update(task, advance=1, last=f"{mark} {t.scenario.id}")
                done.append(t)
                if json_out and len(done) % trials == 0 and len(done) < len(scenarios) * trials:
                    # A long run on a small machine can be cut short; after every finished
                    # scenario the JSON holds what is known so far, marked partial.
                    summary = summarize(done, trials, time.perf_counter() - started)
                    partial = {"summary": {**summary, "partial": True},
                               "trials": [trial_record(x) for x in done]}  # fmt: skip
                    _write(json_out, json.dumps(partial, ensure_ascii=False, indent=2))

            results, wall = await run_suite(
                scenarios, llm, trials=trials, shopper_llm=llm if user == "llm" else None,
                on_trial=tick, keep=keep,
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


CHANGE_STYLE = {"fixed": "green", "better": "green", "broken": "red", "worse": "red"}


def compare_reports(
    out: Console, a: Path, b: Path, *, json_out: Path | None = None
) -> dict[str, Any]:
    """`xiaoer eval compare A B`: per-scenario pass/fail changes, then the metric deltas."""
    diff = compare(load_report(a), load_report(b))
    changed = [s for s in diff["scenarios"] if s["change"] != "same"]
    table = Table("scenario", "A", "B", "change", title=f"scenarios: {a.name} → {b.name}")
    for s in changed:
        style = CHANGE_STYLE.get(s["change"], "")
        change = f"[{style}]{s['change']}[/{style}]" if style else s["change"]
        table.add_row(s["scenario"], s["a"] or "-", s["b"] or "-", change)
    if changed:
        out.print(table)
    counts = ", ".join(f"{k} {v}" for k, v in diff["counts"].items())
    out.print(f"{len(diff['scenarios'])} scenarios: {counts}")
    metrics = Table("metric", "A", "B", "Δ", title="metrics")
    for m in diff["metrics"]:
        if m["a"] == m["b"]:
            continue
        delta = "" if m["delta"] is None else f"{m['delta']:+g}"
        metrics.add_row(m["metric"], _num(m["a"]), _num(m["b"]), delta)
    out.print(metrics)
    if json_out:
        _write(json_out, json.dumps(diff, ensure_ascii=False, indent=2))
    return diff


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _write(path: Path, text: str) -> None:
    """Reports are small and written between trials; blocking here is fine."""
    path.write_text(text, encoding="utf-8")


TAU_AGENTS = ("replay", "noop", "xiaoer", "baseline")
MODEL_AGENTS = ("xiaoer", "baseline")
TAU_CTX = 8192


def subset(n_tasks: int, size: int | None) -> list[int]:
    """`size` task indices spread evenly over the split (every 10th of 500 for 50): a fixed
    subset, the same on every machine."""
    if size is None or size >= n_tasks:
        return list(range(n_tasks))
    return [i * n_tasks // size for i in range(size)]


def _tau_agents(agent: str) -> list[str]:
    names = [a.strip() for a in agent.split(",") if a.strip()]
    unknown = [a for a in names if a not in TAU_AGENTS]
    if not names or unknown:
        raise BadInput(
            f"unknown agent {', '.join(unknown) or agent!r}; known: {', '.join(TAU_AGENTS)}"
        )
    if len(names) > 1 and not set(names) <= set(MODEL_AGENTS):
        raise BadInput("only xiaoer and baseline can run side by side (replay and noop run alone)")
    return names


async def run_tau(
    settings: Settings,
    out: Console,
    err: Console,
    folder: Path,
    *,
    agent: str,
    user: str = "scripted",
    trials: int = 1,
    limit: int | None = None,
    skip: int = 0,
    size: int | None = None,
    json_out: Path | None = None,
    load_llm: Callable[[Runtime], None] | None = None,
) -> dict[str, Any]:
    from xiaoer.evals.tau import load_db, load_tasks, run_tasks, summary
    from xiaoer.evals.tau.episodes import episode_summary, run_episodes

    if not (folder / "tasks_train.json").is_file():
        raise BadInput(f"no τ-retail data in {str(folder)!r} (expected tasks_train.json there)")
    if user not in ("scripted", "llm"):
        raise BadInput(f"--user must be scripted or llm, not {user!r}")
    names = _tau_agents(agent)
    all_tasks = load_tasks(folder)
    picked = subset(len(all_tasks), size)[skip:]
    picked = picked[:limit] if limit else picked
    if not picked:
        raise BadInput(f"--skip {skip} leaves no tasks to run")
    if names[0] in ("replay", "noop"):
        scores = run_tasks(folder, [all_tasks[i] for i in picked], names[0])
        result = summary(scores, n_trials=1)
        out.print_json(json.dumps(result, ensure_ascii=False))
        if json_out:
            payload = {"summary": result, "tasks": [s.__dict__ for s in scores]}
            _write(json_out, json.dumps(payload, ensure_ascii=False, indent=2))
        return result
    # Raw τ records are long; give the baseline room (xiaoer's compact results need less).
    settings = settings.model_copy(update={"llm_ctx": max(settings.llm_ctx, TAU_CTX)})
    rt = await Runtime.open(settings)
    try:
        if load_llm is not None:
            load_llm(rt)
        llm = rt.llm()
        base = load_db(folder)
        progress = _progress("τ-retail", err)
        with progress:
            bar = progress.add_task("tau", total=len(picked) * trials * len(names), last="")

            def tick(ep: Any) -> None:
                mark = "✓" if ep.score and ep.score.passed else "✗"
                progress.update(bar, advance=1, last=f"{mark} {ep.agent} #{ep.task_index}")

            episodes = await run_episodes(
                folder, llm, [(i, all_tasks[i]) for i in picked], names, base,
                trials=trials, user=user, on_episode=tick,
            )  # fmt: skip
    finally:
        await rt.close()
    by_agent = {
        name: episode_summary([e for e in episodes if e.agent == name], trials) for name in names
    }
    table = Table("metric", *names, title=f"τ-retail ({len(picked)} tasks, user={user})")
    for key in by_agent[names[0]]:
        table.add_row(key, *(json.dumps(by_agent[n][key], ensure_ascii=False) for n in names))
    out.print(table)
    payload = {
        "summary": {**by_agent[names[0]], "agent": names[0], "user": user, "tasks": picked},
        "by_agent": by_agent,
        "episodes": [e.as_dict() for e in episodes],
    }
    if json_out:
        _write(json_out, json.dumps(payload, ensure_ascii=False, indent=2))
    return payload
