"""The suite report: the JSON summary (a stable contract) and a failure transcript per trial."""

from __future__ import annotations

import html
import statistics
from collections import defaultdict
from typing import Any

from xiaoer.evals.scoring import Trial, Turn, breached, helpful, honest, pass_hat_k


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summarize(trials: list[Trial], n_trials: int, wall_s: float) -> dict[str, Any]:
    outcomes: dict[str, list[bool]] = defaultdict(list)
    by_cat: dict[str, list[bool]] = defaultdict(list)
    for t in trials:
        outcomes[t.scenario.id].append(t.passed)
        by_cat[t.scenario.category].append(t.passed)
    turns = [turn for t in trials for turn in t.turns]
    latencies = [float(turn.latency_ms) for turn in turns]
    ttfts = [float(turn.ttft_ms) for turn in turns if turn.ttft_ms is not None]
    n_turns = max(1, len(turns))
    return {
        "n_scenarios": len(outcomes),
        "trials": n_trials,
        "pass_hat_k": {str(k): round(pass_hat_k(outcomes, k), 4) for k in range(1, n_trials + 1)},
        "per_category": {c: round(sum(v) / len(v), 4) for c, v in sorted(by_cat.items())},
        "unconfirmed_mutations": sum(t.unconfirmed for t in trials),
        "policy_violations": sum(len(t.policy_violations) for t in trials),
        "actions_executed": sum(
            1 for t in trials for x in t.turns for a in x.actions if a["status"] == "executed"
        ),
        "ungrounded_claims": sum(len(t.ungrounded) for t in trials),
        "wrong_facts": sum(len(t.wrong_facts) for t in trials),
        "handoff_rate": round(sum(t.handoff for t in trials) / max(1, len(trials)), 4),
        "llm_calls_per_turn": round(sum(x.llm_calls for x in turns) / n_turns, 3),
        "tokens_in_per_turn": round(sum(x.tokens_in for x in turns) / n_turns, 1),
        "tokens_out_per_turn": round(sum(x.tokens_out for x in turns) / n_turns, 1),
        "cached_tokens_per_turn": round(sum(x.cached_tokens for x in turns) / n_turns, 1),
        "turns": len(turns),
        "fallback_turns": sum(x.fallback for x in turns),
        "latency_ms": {
            "p50": percentile(latencies, 0.5),
            "p95": percentile(latencies, 0.95),
            "mean": round(statistics.fmean(latencies), 1) if latencies else 0.0,
        },
        "ttft_ms": {"p50": percentile(ttfts, 0.5), "p95": percentile(ttfts, 0.95)},
        "errors": sum(bool(t.error) for t in trials),
        "breaches": sum(breached(t) for t in trials),
        "grounded": honest_helpful([t for t in trials if t.scenario.category == "grounded"]),
        "redteam": honest_helpful([t for t in trials if t.scenario.category.startswith("rt_")]),
        "per_suite": per_suite(trials),
        "handoff": handoff_scores(trials),
        "guard": guard_figures(turns),
        "wall_s": round(wall_s, 1),
    }


def honest_helpful(trials: list[Trial]) -> dict[str, Any] | None:
    """Two rates scored apart: honest (nothing invented, contradicted or unsafe) and helpful
    (the reply gave what the scenario says it must; a handoff is honest, not helpful)."""
    if not trials:
        return None
    n = len(trials)
    return {
        "trials": n,
        "honest_rate": round(sum(honest(t) for t in trials) / n, 4),
        "helpful_rate": round(sum(helpful(t) for t in trials) / n, 4),
        "honest_and_helpful_rate": round(sum(honest(t) and helpful(t) for t in trials) / n, 4),
    }


def per_suite(trials: list[Trial]) -> dict[str, Any]:
    """Totals per suite (the scenario file a scenario came from)."""
    groups: dict[str, list[Trial]] = defaultdict(list)
    for t in trials:
        groups[t.scenario.suite or "-"].append(t)
    out: dict[str, Any] = {}
    for suite, group in sorted(groups.items()):
        outcomes: dict[str, list[bool]] = defaultdict(list)
        for t in group:
            outcomes[t.scenario.id].append(t.passed)
        out[suite] = {
            "scenarios": len(outcomes),
            "trials": len(group),
            "pass_hat_1": round(pass_hat_k(outcomes, 1), 4),
            "wrong_facts": sum(len(t.wrong_facts) for t in group),
            "ungrounded_claims": sum(len(t.ungrounded) for t in group),
            "unconfirmed_mutations": sum(t.unconfirmed for t in group),
            "policy_violations": sum(len(t.policy_violations) for t in group),
            "breaches": sum(breached(t) for t in group),
        }
    return out


def handoff_scores(trials: list[Trial]) -> dict[str, Any]:
    """Precision and recall of handoffs over the trials whose scenario says whether one must
    happen."""
    judged = [t for t in trials if t.scenario.expect.handoff is not None]
    tp = sum(t.handoff and bool(t.scenario.expect.handoff) for t in judged)
    fp = sum(t.handoff and not t.scenario.expect.handoff for t in judged)
    fn = sum(not t.handoff and bool(t.scenario.expect.handoff) for t in judged)
    return {
        "judged_trials": len(judged),
        "precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "recall": round(tp / (tp + fn), 4) if tp + fn else None,
        "true_positive": tp,
        "false_positive": fp,
        "false_negative": fn,
    }


def guard_figures(turns: list[Turn]) -> dict[str, Any]:
    """What the output guard did: replies it checked, stopped (first attempt failed), and how
    each stopped reply was settled; the time it added per checked turn."""
    checked = [x for x in turns if any(g.get("attempt") == 1 for g in x.guard)]
    stopped = [x for x in checked if _failed(x.guard, 1)]
    layers: dict[str, int] = defaultdict(int)
    for x in stopped:
        for g in x.guard:
            if g.get("attempt") == 1 and not g["passed"]:
                layers[g["layer"]] += 1
    ms = [float(x.guard_ms) for x in checked]
    return {
        "replies_checked": len(checked),
        "replies_stopped": len(stopped),
        "settled_by_rewrite": sum(not _failed(x.guard, 2) and _tried(x.guard, 2) for x in stopped),
        "settled_by_knowledge": sum(
            any(g["layer"] == "knowledge" for g in x.guard) for x in stopped
        ),
        "settled_by_handoff": sum(any(g["layer"] == "handoff" for g in x.guard) for x in stopped),
        "stopped_by_layer": dict(sorted(layers.items())),
        "markup_removed": sum(any(g["layer"] == "markup" for g in x.guard) for x in turns),
        "judge_calls": sum(1 for x in turns for g in x.guard if g["layer"] == "judge"),
        "added_ms": {"p50": percentile(ms, 0.5), "p95": percentile(ms, 0.95)},
    }


def _tried(guard: list[dict[str, Any]], attempt: int) -> bool:
    return any(g.get("attempt") == attempt for g in guard)


def _failed(guard: list[dict[str, Any]], attempt: int) -> bool:
    return any(g.get("attempt") == attempt and not g["passed"] for g in guard)


def trial_record(t: Trial) -> dict[str, Any]:
    return {
        "scenario": t.scenario.id,
        "category": t.scenario.category,
        "suite": t.scenario.suite,
        "trial": t.trial,
        "passed": t.passed,
        "reasons": t.reasons,
        "ungrounded": t.ungrounded,
        "wrong_facts": [w.as_dict() for w in t.wrong_facts],
        "unconfirmed": t.unconfirmed,
        "policy_violations": t.policy_violations,
        "handoff": t.handoff,
        "breached": breached(t),
        "honest": honest(t),
        "helpful": helpful(t),
        "turns": [
            {
                "shopper": x.shopper,
                "reply": x.reply,
                "tool_calls": x.tool_calls,
                "actions": x.actions,
                "llm_calls": x.llm_calls,
                "tokens_in": x.tokens_in,
                "cached_tokens": x.cached_tokens,
                "tokens_out": x.tokens_out,
                "latency_ms": x.latency_ms,
                "fallback": x.fallback,
                "guard": x.guard,
                "handoff": x.handoff,
            }
            for x in t.turns
        ],
    }


def to_html(summary: dict[str, Any], trials: list[Trial]) -> str:
    """A self-contained page: the summary, then a transcript for each failed trial."""
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in summary.items()
    )
    parts = [
        "<!doctype html><meta charset='utf-8'><title>xiaoer eval</title>",
        "<style>body{font-family:sans-serif;max-width:960px;margin:auto}"
        "td,th{text-align:left;padding:2px 8px}.t{border:1px solid #ccc;margin:8px 0;padding:8px}"
        ".tool{color:#555;font-size:90%}</style>",
        f"<h1>xiaoer 评测报告</h1><table>{rows}</table><h2>失败的对话 / failures</h2>",
    ]
    for t in trials:
        if t.passed:
            continue
        head = f"{t.scenario.id} #{t.trial} ({t.scenario.category})"
        parts.append(f"<div class='t'><h3>{html.escape(head)}</h3><ul>")
        parts += [f"<li>{html.escape(r)}</li>" for r in t.reasons]
        parts.append("</ul>")
        for x in t.turns:
            parts.append(f"<p><b>顾客</b> {html.escape(x.shopper)}</p>")
            for c in x.tool_calls:
                call = f"{c['name']}({c['arguments']}) → {c['result'][:300]}"
                parts.append(f"<p class='tool'>↳ {html.escape(call)}</p>")
            for a in x.actions:
                verdict = a["policy_verdict"].get("reason", "")
                act = f"[{a['status']}] {a['tool']}: {a['summary']} — 政策：{verdict}"
                parts.append(f"<p class='tool'>⚙ {html.escape(act)}</p>")
            parts.append(f"<p><b>小二</b> {html.escape(x.reply)}</p>")
        parts.append("</div>")
    return "".join(parts)
