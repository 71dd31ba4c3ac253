from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from minishop import ORDERS, SHOPPERS, write_bundle
from xiaoer.cli import app


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"XIAOER_HOME": str(tmp_path / "home"), "XIAOER_NOW": "2026-11-20T14:00:00+08:00"}


def run(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_import_then_list(env: dict[str, str], tmp_path: Path) -> None:
    code, out = run(env, "shop", "import", str(write_bundle(tmp_path / "b")))
    assert code == 0 and "mini" in out and "orders 3" in out
    code, out = run(env, "shops", "--json")
    assert code == 0 and json.loads(out)[0] | {"id": "mini"} == json.loads(out)[0]
    assert json.loads(out)[0]["name"] == "迷你运动店"
    code, out = run(env, "shoppers", "--shop", "mini", "--json")
    assert [s["id"] for s in json.loads(out)] == ["U1", "U2"]
    assert {"id", "name"} <= set(json.loads(out)[0])


def test_shoppers_show_their_extras(env: dict[str, str], tmp_path: Path) -> None:
    extras = {"会员等级": "金卡", "标签": ["[老客]"], "企业客户": True}
    shoppers = [SHOPPERS[0] | {"extras": extras}, SHOPPERS[1]]
    assert run(env, "shop", "import", str(write_bundle(tmp_path / "b", shoppers=shoppers)))[0] == 0
    code, out = run(env, "shoppers", "--shop", "mini", "--json")
    assert code == 0 and [s["extras"] for s in json.loads(out)] == [extras, {}]
    code, out = run(env, "shoppers", "--shop", "mini")
    assert code == 0 and '"会员等级": "金卡"' in out and '["[老客]"]' in out  # markup-safe


def test_shop_key_shows_the_key_and_rotates_only_when_asked(
    env: dict[str, str], tmp_path: Path
) -> None:
    bundle = str(write_bundle(tmp_path / "b"))
    assert run(env, "shop", "import", bundle)[0] == 0
    code, out = run(env, "shop", "key", "mini")
    assert code == 0 and "no API key yet" in out and "shop key mini --rotate" in out
    code, out = run(env, "shop", "key", "mini", "--rotate")
    key = out.splitlines()[0]
    assert code == 0 and key.startswith("xk_mini_") and "shown once" in out
    code, shown = run(env, "shop", "key", "mini")
    fingerprint = hashlib.sha256(key.encode()).hexdigest()[:12]
    assert code == 0 and key not in shown
    assert f"hint         xk_mini_…{key[-4:]}\n" in shown
    assert f"fingerprint  sha256:{fingerprint}\n" in shown
    assert "issued       2026-11-20T06:00:00+00:00\n" in shown
    assert run(env, "shop", "key", "mini") == (0, shown)  # looking changes nothing
    assert run(env, "shop", "import", bundle)[0] == 0
    assert run(env, "shop", "key", "mini") == (0, shown)  # the key survives a re-import
    code, out = run(env, "shop", "key", "mini", "--rotate", "--json")
    data = json.loads(out)
    assert data["key"] != key and data["hint"] == f"xk_mini_…{data['key'][-4:]}"
    code, out = run(env, "shop", "key", "mini", "--json")
    assert "key" not in json.loads(out) and json.loads(out)["hint"] == data["hint"]


def test_invalid_bundle_is_a_clear_message(env: dict[str, str], tmp_path: Path) -> None:
    folder = write_bundle(tmp_path / "b", orders=[ORDERS[0] | {"total_fen": 7}])
    code, out = run(env, "shop", "import", str(folder))
    assert code == 1
    assert "orders.jsonl:1: total_fen: is 7, but the lines add up to 29900" in out
    assert "Traceback" not in out
    code, out = run(env, "shops", "--json")
    assert json.loads(out) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["shoppers", "--shop", "nope"], "shop 'nope' not found"),
        (["shop", "import", "/no/such/folder"], "not a folder"),
        (["shop", "key", "nope"], "shop 'nope' not found"),
        (["shop", "key", "nope", "--rotate"], "shop 'nope' not found"),
    ],
)
def test_errors_are_messages_not_tracebacks(
    env: dict[str, str], args: list[str], message: str
) -> None:
    code, out = run(env, *args)
    assert code == 1 and message in out and "Traceback" not in out


def test_bad_setting_is_reported(env: dict[str, str]) -> None:
    code, out = run(env | {"XIAOER_NOW": "2026-11-20T14:00:00"}, "shops")
    assert code == 2 and "XIAOER_NOW needs an offset" in out


def test_policy_check_names_the_field(env: dict[str, str], tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("refund: {auto_limit: 300}\n", encoding="utf-8")
    assert run(env, "policy", "check", str(good))[0] == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("refund: {auto_limit: lots}\ncancle: {}\n", encoding="utf-8")
    code, out = run(env, "policy", "check", str(bad))
    assert code == 1 and "refund.auto_limit" in out and "cancle" in out
    assert "Traceback" not in out


def test_actions_queue_from_the_cli(env: dict[str, str], tmp_path: Path) -> None:
    folder = write_bundle(tmp_path / "b", policy="refund: {auto_limit: 100}\n")
    assert run(env, "shop", "import", str(folder))[0] == 0
    code, out = run(env, "policy", "show", "--shop", "mini")
    assert code == 0 and "auto_limit: '100'" in out
    code, out = run(env, "actions", "list", "--shop", "mini", "--json")
    assert code == 0 and json.loads(out) == []
    code, out = run(env, "actions", "approve", "act_missing", "--shop", "mini")
    assert code == 1 and "not found" in out


def test_commands_run_on_uvloop() -> None:
    """The turn worker and every other async command run on uvloop's event loop, as `serve`
    does under uvicorn: asyncio's own loop was a third of a worker's CPU per turn."""
    import asyncio

    from xiaoer.cli import command

    seen: list[str] = []

    async def probe() -> None:
        seen.append(type(asyncio.get_running_loop()).__module__)

    command(probe)()
    assert seen and seen[0].startswith("uvloop")
