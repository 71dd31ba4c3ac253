"""An OpenAI-compatible chat endpoint with a fixed latency, for the load test: the time a turn
takes above the stub's is xiaoer's own cost.

It plays a model that does its job in the plainest way: a message with an order number and a
cancellation gets `cancel_order`, a message with an order number gets `track_logistics` (or
`get_order`), "有没有 X" gets `search_products` for X, and after a tool result it answers in one
sentence; a forced call to any other tool (the understanding step) gets empty arguments, so the
defaults stand. Every reply streams as chat-completion chunks, the way the client reads them.

Faults, switched at run time with `POST /fault {"mode": …}`:
- `hang`: the request is held open and never answered (the client's timeout must end it);
- `error`: HTTP 500;
- `garbage`: a 200 whose stream is not chat-completion JSON;
- `none`: back to normal.

With `--capacity N` it serves at most N calls at once, as an endpoint does (its replicas, its
batch): a call beyond them is answered HTTP 429 at once, as a rate-limited endpoint answers.

Run: `python -m xiaoer.bench.stub_llm --port 8900 --latency 0.3`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse

ORDER_ID = re.compile(r"[A-Z]{2}\d{8,}")
ASKED = re.compile(r"有没有\s*([^？?，,。]{1,12})")
FAULTS = ("none", "hang", "error", "garbage")


def _text(content: Any) -> str:
    if isinstance(content, list):  # content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content or ""


def decide(body: dict[str, Any]) -> dict[str, Any]:
    """The stub's answer to one request: `{"call": name, "arguments": {...}}` or `{"text": …}`."""
    messages = body.get("messages") or []
    offered = [t["function"]["name"] for t in body.get("tools") or [] if "function" in t]
    last = messages[-1] if messages else {}
    if last.get("role") == "tool":
        return {"text": "好的，已经帮您查好了，还有什么可以帮您？"}
    if not offered:
        return {"text": "有依据"}
    said = _text(last.get("content"))
    order = ORDER_ID.search(said)
    asked = ASKED.search(said)
    if order and "取消" in said and "cancel_order" in offered:
        return {
            "call": "cancel_order",
            "arguments": {"order_id": order.group(0), "reason": "不想要了"},
        }
    for tool in ("track_logistics", "get_order"):
        if order and tool in offered:
            return {"call": tool, "arguments": {"order_id": order.group(0)}}
    if asked and "search_products" in offered:
        return {"call": "search_products", "arguments": {"keyword": asked.group(1).strip()}}
    if body.get("tool_choice") == "required":
        return {"call": offered[0], "arguments": {}}
    return {"text": "您好，请问有什么可以帮您？"}


def _chunk(delta: dict[str, Any], finish: str | None = None) -> str:
    body = {
        "id": "stub",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": "stub",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


def _frames(answer: dict[str, Any]) -> list[str]:
    if "call" in answer:
        call = {
            "index": 0,
            "id": "call_stub",
            "type": "function",
            "function": {"name": answer["call"], "arguments": json.dumps(answer["arguments"],
                                                                          ensure_ascii=False)},
        }  # fmt: skip
        frames = [_chunk({"role": "assistant", "tool_calls": [call]}), _chunk({}, "tool_calls")]
    else:
        frames = [_chunk({"role": "assistant", "content": answer["text"]}), _chunk({}, "stop")]
    usage = {"id": "stub", "object": "chat.completion.chunk", "created": int(time.time()),
             "model": "stub", "choices": [],
             "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}}  # fmt: skip
    return [*frames, f"data: {json.dumps(usage)}\n\n", "data: [DONE]\n\n"]


def create_stub(latency: float = 0.3, mode: str = "none", capacity: int = 0) -> FastAPI:
    """`capacity`: calls served at once, those beyond answered 429 (0: any number)."""
    app = FastAPI()
    state: dict[str, Any] = {"mode": mode, "calls": 0, "faulted": 0, "refused": 0, "running": 0}

    @app.post("/v1/chat/completions", response_model=None)
    async def complete(request: Request) -> Any:
        body = await request.json()
        state["calls"] += 1
        if capacity and state["running"] >= capacity:
            state["refused"] += 1
            return JSONResponse({"error": {"message": "stub: too many calls at once"}},
                                status_code=429)  # fmt: skip
        state["running"] += 1
        try:
            return await _answer(body)
        finally:
            state["running"] -= 1

    async def _answer(body: dict[str, Any]) -> Any:
        if state["mode"] != "none":
            state["faulted"] += 1
        if state["mode"] == "hang":
            await asyncio.sleep(3600)
        await asyncio.sleep(latency)
        if state["mode"] == "error":
            return JSONResponse({"error": {"message": "stub: internal error"}}, status_code=500)
        if state["mode"] == "garbage":
            return PlainTextResponse("data: <html>502 Bad Gateway</html>\n\n",
                                     media_type="text/event-stream")  # fmt: skip
        frames = _frames(decide(body))

        async def stream() -> AsyncIterator[str]:
            for frame in frames:
                yield frame

        return StreamingResponse(stream(), media_type="text/event-stream")

    @app.post("/fault")
    async def fault(body: dict[str, str]) -> dict[str, Any]:
        if body.get("mode") not in FAULTS:
            return JSONResponse({"error": f"mode must be one of {FAULTS}"}, status_code=400)
        state["mode"] = body["mode"]
        return dict(state)

    @app.get("/stats")
    async def stats() -> dict[str, Any]:
        return dict(state)

    return app


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8900)
    parser.add_argument("--latency", type=float, default=0.3, help="seconds per call")
    parser.add_argument("--capacity", type=int, default=0,
                        help="calls served at once, those beyond answered 429 (0: any number)")  # fmt: skip
    ns = parser.parse_args()
    # asyncio's loop and h11 whatever is installed: the stub is the load test's yardstick (the
    # servers' CPU is given in units of the stub's), so its own cost must not change with them
    stub = create_stub(ns.latency, capacity=ns.capacity)
    uvicorn.run(stub, host="127.0.0.1", port=ns.port, log_level="warning",
                loop="asyncio", http="h11")  # fmt: skip


if __name__ == "__main__":
    main()
