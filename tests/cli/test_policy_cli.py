"""`xiaoer policy versions | show --version | diff | replay`, as a merchant runs them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from minishop import write_bundle
from xiaoer.cli import app
from xiaoer.config import Settings
from xiaoer.llm.scripted import ScriptedLLM, call
from xiaoer.runtime import Runtime

NOW = "2026-11-20T14:00:00+08:00"
STRICT = "refund: {auto_limit: 100}\nreturns: {no_reason_days: 3}\n"


def invoke(env: dict[str, str], *args: str) -> Result:
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"XIAOER_HOME": str(tmp_path / "home"), "XIAOER_NOW": NOW}


def write(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text(body, encoding="utf-8")
    return path


async def _refund_asked(home: Path, bundle: Path) -> None:
    """The mini shop with one conversation: a refund of SO1002 (¥308) proposed."""
    settings = Settings(home=home, now=NOW, guard=False)  # type: ignore[arg-type]
    llm = ScriptedLLM(steps=[call("request_refund", order_id="SO1002")])
    rt = await Runtime.open(settings, llm=llm)
    try:
        await rt.import_shop(bundle)
        await rt.assistant().turn("mini", "U1", "SO1002 不想要了，退款")
    finally:
        await rt.close()


def test_diff_prints_each_field_and_no_changes_when_equal(
    env: dict[str, str], tmp_path: Path
) -> None:
    old = write(tmp_path, "old.yaml", "refund: {auto_limit: 500}\n")
    new = write(tmp_path, "new.yaml", STRICT)
    result = invoke(env, "policy", "diff", str(old), str(new))
    assert result.exit_code == 0
    assert "refund.auto_limit: 500 → 100" in result.output
    assert "returns.no_reason_days: 7 → 3" in result.output
    assert "共 2 处变化 / 2 change(s)" in result.output
    same = invoke(env, "policy", "diff", str(old), str(old))
    assert same.exit_code == 0 and "没有变化 / no changes" in same.output
    data = json.loads(invoke(env, "policy", "diff", str(old), str(new), "--json").stdout)
    assert data["changes"][0] == {
        "path": "refund.auto_limit",
        "change": "changed",
        "old": "500",
        "new": "100",
    }


def test_diff_validates_both_sides_by_file_line_and_field(
    env: dict[str, str], tmp_path: Path
) -> None:
    old = write(tmp_path, "old.yaml", "refund:\n  auto_limit: lots\n")
    new = write(tmp_path, "new.yaml", "cancel: {}\nretension: {}\n")
    result = invoke(env, "policy", "diff", str(old), str(new))
    assert result.exit_code == 1
    assert f"{old}:2: refund.auto_limit:" in result.output
    assert f"{new}:2: retension:" in result.output
    assert "策略差异" not in result.output


@pytest.mark.parametrize("arg", ["/no/such/policy.yaml", "mini@two"])
def test_diff_of_something_that_is_no_policy_is_a_message(
    env: dict[str, str], tmp_path: Path, arg: str
) -> None:
    ok = write(tmp_path, "ok.yaml", "")
    result = invoke(env, "policy", "diff", arg, str(ok))
    assert result.exit_code == 1 and "no such policy file" in result.output


def test_versions_show_and_diff_by_reference(env: dict[str, str], tmp_path: Path) -> None:
    assert invoke(env, "shop", "import", str(write_bundle(tmp_path / "a"))).exit_code == 0
    imported = invoke(env, "shop", "import", str(write_bundle(tmp_path / "b", policy=STRICT)))
    assert "policy_version 2" in imported.output
    listed = invoke(env, "policy", "versions", "mini")
    assert listed.exit_code == 0 and "mini@1" in listed.output
    assert "mini@2 ← 当前 / current" in listed.output and "import b" in listed.output
    rows = json.loads(invoke(env, "policy", "versions", "mini", "--json").stdout)
    assert [r["number"] for r in rows] == [1, 2]
    shown = invoke(env, "policy", "show", "--shop", "mini", "--version", "2")
    assert shown.exit_code == 0 and shown.stdout == STRICT
    diff = invoke(env, "policy", "diff", "mini@1", "mini@latest")
    assert "策略差异 / policy diff: mini@1 → mini@2" in diff.output
    assert "refund.auto_limit: 500 → 100" in diff.output
    missing = invoke(env, "policy", "diff", "mini@9", "mini@1")
    assert missing.exit_code == 1 and "no policy version 9" in missing.output


def test_replay_lists_the_decisions_a_new_policy_changes(
    env: dict[str, str], tmp_path: Path
) -> None:
    asyncio.run(_refund_asked(tmp_path / "home", write_bundle(tmp_path / "b")))
    new = write(tmp_path, "new.yaml", STRICT)
    result = invoke(env, "policy", "replay", str(new), "--shop", "mini")
    assert result.exit_code == 0
    assert "试运行 / dry run: 店铺 mini · 新策略 / new policy" in result.output
    assert "仅退款 request_refund · 订单 SO1002" in result.output
    assert "原 / was (v1): 允许 / allowed ¥308 — refund.states" in result.output
    assert "新 / now: 需商家审核 / needs approval ¥308 — refund.auto_limit" in result.output
    assert "不变 same 0 · 改变 changed 1 · 无法重放 could not re-decide 0" in result.output
    data = json.loads(invoke(env, "policy", "replay", str(new), "--shop", "mini", "--json").stdout)
    assert data["counts"] == {"same": 0, "changed": 1, "skipped": 0}
    assert data["decisions"][0]["new"]["needs_approval"] is True
    unchanged = invoke(env, "policy", "replay", "mini@1", "--shop", "mini")
    assert "不变 same 1 · 改变 changed 0" in unchanged.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--shop", "mini", "--since", "last week"], "not a date, write it as YYYY-MM-DD"),
        (["--shop", "nope"], "shop 'nope' not found"),
    ],
)
def test_replay_bad_input_is_a_message(
    env: dict[str, str], tmp_path: Path, args: list[str], message: str
) -> None:
    assert invoke(env, "shop", "import", str(write_bundle(tmp_path / "b"))).exit_code == 0
    new = write(tmp_path, "new.yaml", STRICT)
    result = invoke(env, "policy", "replay", str(new), *args)
    assert result.exit_code == 1 and message in result.output


def test_replay_of_an_invalid_policy_names_the_field(env: dict[str, str], tmp_path: Path) -> None:
    assert invoke(env, "shop", "import", str(write_bundle(tmp_path / "b"))).exit_code == 0
    bad = write(tmp_path, "bad.yaml", "refund:\n  auto_limit: -5\n")
    result = invoke(env, "policy", "replay", str(bad), "--shop", "mini")
    assert result.exit_code == 1 and f"{bad}:2: refund.auto_limit:" in result.output


def test_publish_then_roll_back_from_the_command_line(env: dict[str, str], tmp_path: Path) -> None:
    assert invoke(env, "shop", "import", str(write_bundle(tmp_path / "a"))).exit_code == 0
    bad = write(tmp_path, "bad.yaml", "refund:\n  auto_limit: lots\n")
    refused = invoke(env, "policy", "publish", str(bad), "--shop", "mini")
    assert refused.exit_code == 1 and f"{bad}:2: refund.auto_limit:" in refused.output
    strict = write(tmp_path, "strict.yaml", STRICT)
    published = invoke(env, "policy", "publish", str(strict), "--shop", "mini")
    assert published.exit_code == 0 and "published: mini@2" in published.output
    again = invoke(env, "policy", "publish", str(strict), "--shop", "mini")
    assert "unchanged: mini@2" in again.output
    shown = invoke(env, "policy", "show", "--shop", "mini")
    assert "auto_limit: '100'" in shown.stdout
    back = invoke(env, "policy", "rollback", "mini@1")
    assert back.exit_code == 0 and "rolled back: mini@3 = mini@1" in back.output
    assert "auto_limit: '500'" in invoke(env, "policy", "show", "--shop", "mini").stdout
    rows = json.loads(invoke(env, "policy", "versions", "mini", "--json").stdout)
    assert [r["source"] for r in rows[1:]] == ["cli strict.yaml", "rollback to v1 by cli"]
    for args in (
        ("rollback", "mini@9"),
        ("rollback", "mini"),
        ("publish", "/no/file.yaml", "--shop", "mini"),
    ):
        result = invoke(env, "policy", *args)
        assert result.exit_code == 1, args
    assert "no such file" in invoke(env, "policy", "publish", "/no/x.yaml", "--shop", "mini").output
    unknown = invoke(env, "policy", "publish", str(strict), "--shop", "nowhere")
    assert unknown.exit_code == 1 and "not found" in unknown.output


def test_assist_mode_is_switched_from_the_command_line(env: dict[str, str], tmp_path: Path) -> None:
    assert invoke(env, "shop", "import", str(write_bundle(tmp_path / "a"))).exit_code == 0
    on = invoke(env, "policy", "assist", "on", "--shop", "mini")
    assert on.exit_code == 0 and "智能辅助已开启 / on: mini@2" in on.output
    assert "assist: true" in invoke(env, "policy", "show", "--shop", "mini").stdout
    again = invoke(env, "policy", "assist", "on", "--shop", "mini")
    assert again.exit_code == 0 and "unchanged: mini@2" in again.output
    off = invoke(env, "policy", "assist", "off", "--shop", "mini")
    assert off.exit_code == 0 and "mini@3" in off.output
    rows = json.loads(invoke(env, "policy", "versions", "mini", "--json").stdout)
    assert [r["source"] for r in rows[1:]] == ["智能辅助开启 by cli", "智能辅助关闭 by cli"]
    bad = invoke(env, "policy", "assist", "maybe", "--shop", "mini")
    assert bad.exit_code == 1 and "on or off" in bad.output
    unknown = invoke(env, "policy", "assist", "on", "--shop", "nowhere")
    assert unknown.exit_code == 1 and "not found" in unknown.output
