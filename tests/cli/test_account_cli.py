"""`xiaoer account add/list`: the password from XIAOER_NEW_PASSWORD, a clear error without one,
and only a hash stored."""

from __future__ import annotations

import asyncio
from pathlib import Path

from typer.testing import CliRunner

from minishop import write_bundle
from xiaoer.cli import app
from xiaoer.config import Settings
from xiaoer.runtime import Runtime
from xiaoer.services import accounts as accounts_service
from xiaoer.store.repositories import ConsoleAccountRepository


def run(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


async def _import(home: Path, bundle: Path) -> None:
    rt = await Runtime.open(Settings(home=home, guard=False))
    try:
        await rt.import_shop(bundle)
    finally:
        await rt.close()


async def _stored(home: Path, name: str, password: str) -> tuple[str, bool]:
    rt = await Runtime.open(Settings(home=home, guard=False))
    try:
        async with rt.sessions() as s:
            row = await ConsoleAccountRepository(s).by_name(name)
            assert row is not None
            ok = await accounts_service.authenticate(s, name, password) is not None
            return row.password_hash, ok
    finally:
        await rt.close()


def test_account_add_and_list(tmp_path: Path) -> None:
    home = tmp_path / "home"
    asyncio.run(_import(home, write_bundle(tmp_path / "b")))
    env = {"XIAOER_HOME": str(home), "XIAOER_NEW_PASSWORD": "s3cret-pass"}
    code, text = run(env, "account", "add", "li@shop.cn", "--shop", "mini", "--role", "owner")
    assert code == 0, text
    assert "s3cret-pass" not in text
    code, text = run(env, "account", "list")
    assert code == 0 and "li@shop.cn" in text and "owner" in text and "mini" in text
    stored, ok = asyncio.run(_stored(home, "li@shop.cn", "s3cret-pass"))
    assert ok and stored.startswith("scrypt$") and "s3cret-pass" not in stored
    code, text = run(env, "account", "add", "li@shop.cn", "--shop", "mini")
    assert code == 1 and "already exists" in text


def test_account_add_refuses_without_a_password_or_with_bad_input(tmp_path: Path) -> None:
    home = tmp_path / "home"
    asyncio.run(_import(home, write_bundle(tmp_path / "b")))
    code, text = run({"XIAOER_HOME": str(home)}, "account", "add", "wang", "--shop", "mini")
    assert code == 1 and "XIAOER_NEW_PASSWORD" in text
    env = {"XIAOER_HOME": str(home), "XIAOER_NEW_PASSWORD": "long-enough"}
    code, text = run(env, "account", "add", "wang", "--shop", "nope")
    assert code == 1 and "'nope'" in text
    code, text = run(env, "account", "add", "wang", "--shop", "mini", "--role", "boss")
    assert code == 1 and "owner or agent" in text
    env["XIAOER_NEW_PASSWORD"] = "short"
    code, text = run(env, "account", "add", "wang", "--shop", "mini")
    assert code == 1 and "8" in text


def test_password_hashes_are_salted_and_checked() -> None:
    a, b = accounts_service.hash_password("pw-12345"), accounts_service.hash_password("pw-12345")
    assert a != b
    assert accounts_service.verify_password("pw-12345", a)
    assert not accounts_service.verify_password("pw-12346", a)
    assert not accounts_service.verify_password("pw-12345", "garbage")


def test_login_throttle_counts_failures_per_name_within_a_minute() -> None:
    t = accounts_service.LoginThrottle(limit=3, window=60)
    for i in range(3):
        assert not t.blocked("li", 100 + i)
        t.failed("li", 100 + i)
    assert t.blocked("li", 110) and t.blocked("LI", 110)
    assert not t.blocked("wang", 110)
    assert not t.blocked("li", 161)  # the first failure left the window


def test_login_throttle_forgets_names_without_recent_failures_past_its_size() -> None:
    t = accounts_service.LoginThrottle(limit=3, window=60, names=10)
    for i in range(10):
        t.failed(f"made-up-{i}", 100)
    t.failed("li", 170)  # the others' failures left the window
    assert len(t._failures) == 1
