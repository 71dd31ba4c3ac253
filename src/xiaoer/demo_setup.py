"""First-run demo setup: generate the demo shop bundles (stride, volt, orchard) and import them."""

from __future__ import annotations

from rich.console import Console

from xiaoer.demo import write_demo_bundles
from xiaoer.runtime import Runtime
from xiaoer.store.repositories import ShopRepository

DEMO_SHOPS = ("stride", "volt", "orchard")


async def ensure_demo(rt: Runtime, console: Console, *, regenerate: bool = False) -> None:
    async with rt.sessions() as s:
        present = {shop.id for shop in await ShopRepository(s).list()}
    if not regenerate and all(shop in present for shop in DEMO_SHOPS):
        return
    anchor = rt.clock().astimezone()
    folder = rt.settings.home / "demo-bundles"
    with console.status("生成演示店铺数据 / generating the demo shops…"):
        paths = write_demo_bundles(folder, anchor=anchor)
    for path in paths:
        with console.status(f"导入 / importing {path.name}…"):
            shop_id, counts = await rt.import_shop(path)
        summary = ", ".join(f"{k} {v}" for k, v in counts.items())
        console.print(f"[green]✓[/green] {shop_id}: {summary}")
