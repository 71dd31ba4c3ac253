"""Ten demo questions on the embedded model, each in a fresh conversation, with figures.

Prints, per question, the tool calls, whether the right tool got the right arguments, and the
turn's LLM calls, tokens, time to first token and total time; then medians. It needs the demo
shops imported (`xiaoer demo` once, or `xiaoer shop import`). Usage:

    XIAOER_NOW=2026-11-20T14:00:00+08:00 .venv/bin/python scripts/measure_turns.py [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

from xiaoer.config import Settings
from xiaoer.runtime import Runtime
from xiaoer.store.repositories import OrderRepository


async def _orders(rt: Runtime, shop: str, shopper: str) -> dict[str, str]:
    async with rt.sessions() as s:
        orders = await OrderRepository(s, shop).for_shopper(shopper, limit=50)
    return {o.status.value: o.id for o in reversed(orders)}


def _ok(calls: list[dict[str, Any]], want: dict[str, Any]) -> bool:
    for c in calls:
        if c["name"] not in want["tools"]:
            continue
        args = {k: str(v).upper() for k, v in c["arguments"].items()}
        if all(any(x.upper() in args.get(k, "") for x in v) for k, v in want["args"].items()):
            return True
    return False


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", dest="out")
    ns = parser.parse_args()
    rt = await Runtime.open(Settings())
    started = time.perf_counter()
    rt.llm()
    load_s = time.perf_counter() - started
    stride, volt = await _orders(rt, "stride", "U00001"), await _orders(rt, "volt", "U00001")
    async with rt.sessions() as s:
        foreign = (await OrderRepository(s, "stride").for_shopper("U00002", limit=1))[0].id
    track = ("track_logistics", "get_order")
    cases = [
        ("stride", f"我的订单 {stride['已发货']} 到哪了？", track, {"order_id": [stride["已发货"]]}),
        ("stride", "有没有 42 码的跑鞋，300 元以内", ("search_products",),
         {"keyword": ["跑鞋", "跑"], "size": ["42"], "max_price": ["300"]}),
        ("stride", "我最近买了什么？", ("list_my_orders",), {}),
        ("stride", f"订单 {stride['待发货']} 发货了吗", track, {"order_id": [stride["待发货"]]}),
        ("stride", "有没有黑色的卫衣", ("search_products",), {"keyword": ["卫衣"], "color": ["黑"]}),
        ("stride", "疾风 3 男子缓震跑鞋 42 码还有货吗", ("get_product", "search_products"),
         {"product_id|keyword": []}),
        ("stride", f"帮我查一下订单 {foreign}", ("get_order", "track_logistics"),
         {"order_id": [foreign]}),
        ("volt", "有没有 1000 元以内的蓝牙耳机", ("search_products",),
         {"keyword": ["耳机"], "max_price": ["1000"]}),
        ("volt", f"我的订单 {volt['已发货']} 到哪了", track, {"order_id": [volt["已发货"]]}),
        ("volt", f"{volt['待发货']} 这个空调订单什么时候发货", track, {"order_id": [volt["待发货"]]}),
    ]
    rows = []
    for shop, question, tools, args in cases:
        args = {k: v for k, v in args.items() if "|" not in k}
        t0 = time.perf_counter()
        r = await rt.assistant().turn(shop, "U00001", question)
        calls = [{"name": c.name, "arguments": c.arguments, "ok": c.ok} for c in r.tool_calls]
        row = {
            "shop": shop, "question": question, "reply": r.reply, "tool_calls": calls,
            "right_tool": _ok(calls, {"tools": tools, "args": args}),
            "llm_calls": r.llm_calls, "tokens_in": r.tokens_in, "tokens_out": r.tokens_out,
            "cached_tokens": r.cached_tokens, "ttft_s": (r.ttft_ms or 0) / 1000,
            "turn_s": time.perf_counter() - t0, "fallback": r.fallback,
        }
        rows.append(row)
        print(json.dumps(row, ensure_ascii=False))
    med = {k: statistics.median(r[k] for r in rows)
           for k in ("ttft_s", "turn_s", "llm_calls", "tokens_in", "tokens_out")}
    summary = {"model_load_s": round(load_s, 2), "right_tool": sum(r["right_tool"] for r in rows),
               "n": len(rows), "fallbacks": sum(r["fallback"] for r in rows),
               "median": {k: round(v, 2) for k, v in med.items()}}
    print(json.dumps(summary, ensure_ascii=False))
    if ns.out:
        with open(ns.out, "w", encoding="utf-8") as f:
            json.dump({"summary": summary, "turns": rows}, f, ensure_ascii=False, indent=2)
    await rt.close()


if __name__ == "__main__":
    asyncio.run(main())
