"""First-run demo setup: generate the demo shop bundles (stride, volt, orchard) and import them."""

from __future__ import annotations

from rich.console import Console

from xiaoer.demo import write_demo_bundles
from xiaoer.runtime import Runtime
from xiaoer.services import accounts as accounts_service
from xiaoer.store.repositories import ConsoleAccountRepository, ShopRepository

DEMO_SHOPS = ("stride", "volt", "orchard")
DEMO_ACCOUNT = ("demo", "xiaoer-demo")
"""The demo's console owner (name, password): a local demo only, printed on every run."""


async def ensure_demo(rt: Runtime, console: Console, *, regenerate: bool = False) -> None:
    async with rt.sessions() as s:
        present = {shop.id for shop in await ShopRepository(s).list()}
    if regenerate or not all(shop in present for shop in DEMO_SHOPS):
        await _import_demo(rt, console)
    await _ensure_console_account(rt)


async def _ensure_console_account(rt: Runtime) -> None:
    """The demo owner account for the three shops."""
    name, password = DEMO_ACCOUNT
    async with rt.sessions() as s:
        if await ConsoleAccountRepository(s).by_name(name) is None:
            await accounts_service.add(s, name, password, "owner", list(DEMO_SHOPS), rt.clock())
            await s.commit()


def print_web(console: Console, base: str, shop: str, shopper: str, failed: str | None) -> None:
    """Where the demo's web pages are, and the console login — or why they are not served."""
    name, password = DEMO_ACCOUNT
    if failed is not None:
        console.print(
            f"网页没有启动 / web pages not served: {base} — {failed}"
            "（换个端口 / another port: XIAOER_PORT=8001）",
            markup=False,
            highlight=False,
        )
        return
    lines = (
        f"控制台 / console:        {base}/console   登录 / login: {name} / {password}",
        f"商品页+聊天窗 / widget:  {base}/demo/{shop}?shopper={shopper}",
    )
    for line in lines:
        console.print(line, markup=False, highlight=False)


async def _import_demo(rt: Runtime, console: Console) -> None:
    anchor = rt.clock().astimezone()
    folder = rt.settings.home / "demo-bundles"
    with console.status("生成演示店铺数据 / generating the demo shops…"):
        paths = write_demo_bundles(folder, anchor=anchor)
    for path in paths:
        with console.status(f"导入 / importing {path.name}…"):
            shop_id, counts = await rt.import_shop(path)
        summary = ", ".join(f"{k} {v}" for k, v in counts.items())
        console.print(f"[green]✓[/green] {shop_id}: {summary}")
