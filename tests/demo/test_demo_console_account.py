"""The demo creates the console's owner account for its shops and prints where its pages are."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from minishop import write_bundle
from xiaoer.demo_setup import DEMO_ACCOUNT, DEMO_SHOPS, ensure_demo, print_web
from xiaoer.runtime import Runtime
from xiaoer.services import accounts as accounts_service


async def test_demo_creates_the_console_owner_once(runtime: Runtime, tmp_path: Path) -> None:
    for shop_id in DEMO_SHOPS:  # present already: the demo does not regenerate them
        await runtime.import_shop(write_bundle(tmp_path / shop_id, shop_id=shop_id))
    for _ in range(2):  # a second run finds the account and leaves it
        await ensure_demo(runtime, Console(record=True, width=200))
    async with runtime.sessions() as s:
        account = await accounts_service.authenticate(s, *DEMO_ACCOUNT)
    assert account is not None and account.role == "owner"
    assert set(account.shops) == set(DEMO_SHOPS)


def test_demo_prints_where_its_pages_are_and_the_login() -> None:
    console = Console(record=True, width=200)
    print_web(console, "http://127.0.0.1:8000", "stride", "U00001", None)
    text = console.export_text()
    assert "http://127.0.0.1:8000/console" in text
    assert "http://127.0.0.1:8000/demo/stride?shopper=U00001" in text
    assert f"{DEMO_ACCOUNT[0]} / {DEMO_ACCOUNT[1]}" in text
    console = Console(record=True, width=200)
    print_web(console, "http://127.0.0.1:8000", "stride", "U00001", "Address already in use")
    text = console.export_text()
    assert "Address already in use" in text and "XIAOER_PORT" in text and "/console" not in text
