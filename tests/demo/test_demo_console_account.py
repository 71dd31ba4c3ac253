"""The demo creates the console's owner account for its shops and prints where to sign in."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from minishop import write_bundle
from xiaoer.demo_setup import DEMO_ACCOUNT, DEMO_SHOPS, ensure_demo
from xiaoer.runtime import Runtime
from xiaoer.services import accounts as accounts_service


async def test_demo_prints_the_console_url_and_login(runtime: Runtime, tmp_path: Path) -> None:
    for shop_id in DEMO_SHOPS:  # present already: the demo does not regenerate them
        await runtime.import_shop(write_bundle(tmp_path / shop_id, shop_id=shop_id))
    for _ in range(2):  # a second run finds the account and prints the login again
        console = Console(record=True, width=200)
        await ensure_demo(runtime, console)
        text = console.export_text()
        assert "http://127.0.0.1:8000/console" in text
        assert f"{DEMO_ACCOUNT[0]} / {DEMO_ACCOUNT[1]}" in text
    async with runtime.sessions() as s:
        account = await accounts_service.authenticate(s, *DEMO_ACCOUNT)
    assert account is not None and account.role == "owner"
    assert set(account.shops) == set(DEMO_SHOPS)
