"""The terminal chat used by `xiaoer chat` and `xiaoer demo`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from rich.console import Console

from xiaoer.agent.events import Event, TextDelta, ToolStarted, TurnResult
from xiaoer.agent.turn import Assistant
from xiaoer.domain.errors import NotFound, XiaoerError
from xiaoer.runtime import Runtime
from xiaoer.store.repositories import (
    CatalogRepository,
    OrderRepository,
    ShopperRepository,
    ShopRepository,
)


async def _welcome(rt: Runtime, console: Console, shop_id: str, shopper_id: str) -> None:
    async with rt.sessions() as s:
        shop = await ShopRepository(s).get(shop_id)
        if shop is None:
            raise NotFound(f"shop {shop_id!r} not found; `xiaoer shops` lists the shops")
        shopper = await ShopperRepository(s, shop_id).get(shopper_id)
        if shopper is None:
            raise NotFound(
                f"shopper {shopper_id!r} not found; see `xiaoer shoppers --shop {shop_id}`"
            )
        orders = await OrderRepository(s, shop_id).for_shopper(shopper_id, limit=20)
        products = await CatalogRepository(s, shop_id).all()
    console.rule(f"[bold]{shop.name}[/bold]  ·  顾客 {shopper.name}（{shopper.id}）")
    shipped = next((o for o in orders if o.status == "已发货"), orders[0] if orders else None)
    tries = []
    if shipped is not None:
        tries.append(f"我的订单 {shipped.id} 到哪了？")
    if products:
        # A question about the shop's own catalogue (any shop: no category words here).
        tries.append(f"{products[0].title}多少钱？有货吗？")
    tries.append("我最近买了什么？")
    console.print("[dim]试试 / try:[/dim] " + "  |  ".join(tries))
    console.print("[dim]/new 新会话  /quit 退出[/dim]")


def _footer(result: TurnResult) -> str:
    calls = ", ".join(f"{c.name}({_args(c.arguments)})" for c in result.tool_calls) or "—"
    return (
        f"[dim]工具 {calls} · LLM {result.llm_calls} 次 · "
        f"tokens {result.tokens_in}/{result.tokens_out} · {result.latency_ms / 1000:.1f}s[/dim]"
    )


def _args(arguments: dict[str, object]) -> str:
    return ", ".join(f"{k}={v}" for k, v in arguments.items())


async def repl(
    rt: Runtime,
    console: Console,
    shop_id: str,
    shopper_id: str,
    conversation_id: str | None,
    load_llm: Callable[[Runtime], None],
) -> None:
    await _welcome(rt, console, shop_id, shopper_id)
    load_llm(rt)
    assistant = rt.assistant()
    # the shop's prompt prefixes while the shopper types: it gives way to their first turn
    async with rt.warming([shop_id]):
        await _chat(console, assistant, shop_id, shopper_id, conversation_id)


async def _chat(
    console: Console,
    assistant: Assistant,
    shop_id: str,
    shopper_id: str,
    conversation_id: str | None,
) -> None:
    while True:
        try:
            text = (await asyncio.to_thread(input, "\n你 > ")).strip()
        except EOFError:
            console.print()
            return
        if not text:
            continue
        if text in ("/quit", "/exit", "exit", "quit"):
            return
        if text == "/new":
            conversation_id = None
            console.print("[dim]新会话 / new conversation[/dim]")
            continue

        async def show(event: Event) -> None:
            if isinstance(event, ToolStarted):
                console.print(f"[dim]  ↳ {event.name}({_args(event.arguments)})[/dim]")
            elif isinstance(event, TextDelta):
                if event.reset:  # the checked reply replaces what was streamed
                    console.print("\n[dim]（更正 / corrected）[/dim]\n小二 > ", end="")
                console.print(event.text, end="", soft_wrap=True, highlight=False, markup=False)

        console.print("小二 > ", end="")
        try:
            result = await assistant.turn(
                shop_id, shopper_id, text, conversation_id=conversation_id, emit=show
            )
        except XiaoerError as exc:
            console.print(f"\n[red]{exc.message}[/red]")
            continue
        conversation_id = result.conversation_id
        console.print()
        console.print(_footer(result))
