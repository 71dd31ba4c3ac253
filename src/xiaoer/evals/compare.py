"""Two `xiaoer eval run --json` reports side by side: what passes now that did not, and back,
and how every figure of the summary moved."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from xiaoer.domain.errors import BadInput


def load_report(path: Path) -> dict[str, Any]:
    """A scenario report as `eval run --json` writes it; a clear error for anything else."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"no such report: {str(path)!r}") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise BadInput(f"cannot read {str(path)!r}: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(f"{str(path)!r} is not valid JSON ({exc})") from None
    ok = (
        isinstance(data, dict)
        and isinstance(data.get("summary"), dict)
        and isinstance(data.get("trials"), list)
        and all(isinstance(t, dict) and "scenario" in t and "passed" in t for t in data["trials"])
    )
    if not ok:
        raise BadInput(
            f"{str(path)!r} is not a scenario report (expected the JSON of "
            "`xiaoer eval run --json`: a summary and a list of trials)"
        )
    return data


def outcomes(report: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """Per scenario: (trials passed, trials run)."""
    seen: dict[str, list[bool]] = defaultdict(list)
    for t in report["trials"]:
        seen[str(t["scenario"])].append(bool(t["passed"]))
    return {sid: (sum(v), len(v)) for sid, v in seen.items()}


def _change(a: tuple[int, int] | None, b: tuple[int, int] | None) -> str:
    if a is None:
        return "added"
    if b is None:
        return "removed"
    ra, rb = a[0] / a[1], b[0] / b[1]
    if ra == rb:
        return "same"
    if ra == 0 and rb == 1:
        return "fixed"
    if ra == 1 and rb == 0:
        return "broken"
    return "better" if rb > ra else "worse"


def flatten(summary: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """The summary's numbers by dotted name ('per_suite.orders.pass_hat_1')."""
    out: dict[str, float] = {}
    for key, value in summary.items():
        name = f"{prefix}{key}"
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int | float):
            out[name] = float(value)
        elif isinstance(value, dict):
            out |= flatten(value, name + ".")
    return out


def compare(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Scenario changes (every scenario in either report, with its passes in each) and the
    metric deltas (every number in either summary)."""
    oa, ob = outcomes(a), outcomes(b)
    scenarios = [
        {
            "scenario": sid,
            "a": f"{oa[sid][0]}/{oa[sid][1]}" if sid in oa else None,
            "b": f"{ob[sid][0]}/{ob[sid][1]}" if sid in ob else None,
            "change": _change(oa.get(sid), ob.get(sid)),
        }
        for sid in sorted(oa.keys() | ob.keys())
    ]
    fa, fb = flatten(a["summary"]), flatten(b["summary"])
    metrics = [
        {
            "metric": name,
            "a": fa.get(name),
            "b": fb.get(name),
            "delta": round(fb[name] - fa[name], 4) if name in fa and name in fb else None,
        }
        for name in list(dict.fromkeys([*fa, *fb]))
    ]
    counts: dict[str, int] = defaultdict(int)
    for s in scenarios:
        counts[s["change"]] += 1
    return {"scenarios": scenarios, "metrics": metrics, "counts": dict(sorted(counts.items()))}
