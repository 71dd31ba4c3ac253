from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from xiaoer.cli import app
from xiaoer.domain.errors import BadInput
from xiaoer.evals.compare import compare, load_report


def _report(passes: dict[str, list[bool]], **summary: Any) -> dict[str, Any]:
    trials = [
        {"scenario": sid, "trial": k, "passed": ok}
        for sid, oks in passes.items()
        for k, ok in enumerate(oks)
    ]
    return {"summary": summary, "trials": trials}


A = _report(
    {"a": [False, False], "b": [True, True], "c": [True, False], "d": [True, True], "gone": [True]},
    pass_hat_k={"1": 0.6}, wrong_facts=4, per_suite={"orders": {"wrong_facts": 4}}, partial=True,
)  # fmt: skip
B = _report(
    {"a": [True, True], "b": [False, False], "c": [True, True], "d": [True, True], "new": [False]},
    pass_hat_k={"1": 0.7}, wrong_facts=1, per_suite={"orders": {"wrong_facts": 1}},
)  # fmt: skip


def test_compare_names_every_scenario_change_and_metric_delta() -> None:
    diff = compare(A, B)
    changes = {s["scenario"]: (s["a"], s["b"], s["change"]) for s in diff["scenarios"]}
    assert changes == {
        "a": ("0/2", "2/2", "fixed"),
        "b": ("2/2", "0/2", "broken"),
        "c": ("1/2", "2/2", "better"),
        "d": ("2/2", "2/2", "same"),
        "gone": ("1/1", None, "removed"),
        "new": (None, "0/1", "added"),
    }
    metrics = {m["metric"]: (m["a"], m["b"], m["delta"]) for m in diff["metrics"]}
    assert metrics["pass_hat_k.1"] == (0.6, 0.7, 0.1)
    assert metrics["wrong_facts"] == (4, 1, -3)
    assert metrics["per_suite.orders.wrong_facts"] == (4, 1, -3)
    assert "partial" not in metrics  # flags are not figures
    assert diff["counts"] == {"added": 1, "better": 1, "broken": 1, "fixed": 1, "removed": 1,
                              "same": 1}  # fmt: skip


def test_a_missing_or_invalid_report_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="no such report"):
        load_report(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(BadInput, match="not valid JSON"):
        load_report(bad)
    tau = tmp_path / "tau.json"
    tau.write_text(json.dumps({"summary": {}, "episodes": []}), encoding="utf-8")
    with pytest.raises(BadInput, match="not a scenario report"):
        load_report(tau)


def test_eval_compare_command(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(A), encoding="utf-8")
    b.write_text(json.dumps(B), encoding="utf-8")
    env = {"XIAOER_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    result = CliRunner().invoke(app, ["eval", "compare", str(a), str(b)], env=env)
    assert result.exit_code == 0, result.output
    assert "fixed" in result.output and "broken" in result.output
    assert "wrong_facts" in result.output and "-3" in result.output
    missing = CliRunner().invoke(
        app, ["eval", "compare", str(a), str(tmp_path / "x.json")], env=env
    )
    assert missing.exit_code == 1
    assert "no such report" in missing.output and "Traceback" not in missing.output
