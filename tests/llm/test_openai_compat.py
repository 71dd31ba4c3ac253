"""The OpenAI-compatible backend: against a fake stream of chunks (each the chat-completions
JSON it is on the wire), and over HTTP against an endpoint on a loopback port."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from endpoint_fixture import endpoint
from xiaoer.domain.errors import UpstreamError
from xiaoer.llm.base import ChatMessage, ToolCall, ToolSpec
from xiaoer.llm.openai_compat import OpenAICompatLLM, to_openai

TOOLS = [ToolSpec("get_order", "查询订单", {"type": "object", "properties": {}})]


def _chunk(
    content: str | None = None, calls: list[Any] | None = None, usage: Any = None
) -> dict[str, Any]:
    choices = [] if usage else [{"index": 0, "delta": {"content": content, "tool_calls": calls}}]
    return {"object": "chat.completion.chunk", "choices": choices, "usage": usage}


class FakeClient:
    """A `ChatStream`: the body the LLM sends, and the chunks back."""

    def __init__(self, chunks: list[Any]) -> None:
        self.sent = chunks
        self.kwargs: dict[str, Any] = {}

    async def chunks(self, body: dict[str, Any]) -> AsyncIterator[Any]:
        self.kwargs = body
        for c in self.sent:
            if isinstance(c, Exception):
                raise c
            yield c

    async def aclose(self) -> None:
        pass


def _llm(chunks: list[Any]) -> tuple[OpenAICompatLLM, FakeClient]:
    client = FakeClient(chunks)
    return OpenAICompatLLM(base_url="http://x", model="m", client=client), client


async def test_streams_text_and_counts_tokens() -> None:
    llm, client = _llm(
        [_chunk("您"), _chunk("好"), _chunk(usage={"prompt_tokens": 9, "completion_tokens": 2})]
    )
    seen: list[str] = []

    async def on_text(piece: str) -> None:
        seen.append(piece)

    out = await llm.complete([ChatMessage("user", "hi")], TOOLS, on_text=on_text)
    assert out.content == "您好" and seen == ["您", "好"]
    assert (out.tokens_in, out.tokens_out) == (9, 2)
    assert client.kwargs["tool_choice"] == "auto" and client.kwargs["stream"] is True


async def test_assembles_native_tool_call_deltas() -> None:
    f = {"name": "get_order", "arguments": '{"order_'}
    g = {"name": None, "arguments": 'id": "SO1"}'}
    llm, _ = _llm(
        [
            _chunk(calls=[{"index": 0, "id": "c1", "function": f}]),
            _chunk(calls=[{"index": 0, "id": None, "function": g}]),
        ]
    )
    out = await llm.complete([ChatMessage("user", "查 SO1")], TOOLS, mode="call")
    assert out.tool_calls == [ToolCall("c1", "get_order", {"order_id": "SO1"})]


async def test_json_in_content_is_parsed_as_a_call() -> None:
    llm, _ = _llm([_chunk('{"name": "get_order", "arguments": {"order_id": "SO1"}}')])
    out = await llm.complete([ChatMessage("user", "x")], TOOLS)
    assert [c.name for c in out.tool_calls] == ["get_order"] and out.content == ""


async def test_text_mode_offers_no_tools() -> None:
    llm, client = _llm([_chunk("好的")])
    await llm.complete([ChatMessage("user", "x")], TOOLS, mode="text")
    assert "tools" not in client.kwargs


async def test_endpoint_failure_is_an_upstream_error() -> None:
    llm, _ = _llm([ConnectionError("refused")])
    with pytest.raises(UpstreamError, match="LLM endpoint failed: ConnectionError"):
        await llm.complete([ChatMessage("user", "x")], TOOLS)


async def test_a_stream_of_something_else_is_an_upstream_error() -> None:
    for odd in (["not", "a", "chunk"], "text", 7):
        llm, _ = _llm([odd])
        with pytest.raises(UpstreamError, match="not a chunk"):
            await llm.complete([ChatMessage("user", "x")], TOOLS)
    llm, _ = _llm([{"choices": [{"delta": None}]}, {"choices": None}, _chunk("好")])
    assert (await llm.complete([ChatMessage("user", "x")], TOOLS)).content == "好"


def test_history_in_openai_shape() -> None:
    msgs = [
        ChatMessage("assistant", tool_calls=(ToolCall("c1", "get_order", {"order_id": "A"}),)),
        ChatMessage("tool", "已发货", tool_call_id="c1"),
    ]
    out = to_openai(msgs)
    assert out[0]["tool_calls"][0]["function"] == {
        "name": "get_order",
        "arguments": '{"order_id": "A"}',
    }
    assert out[1] == {"role": "tool", "tool_call_id": "c1", "content": "已发货"}


async def test_a_reply_that_loops_is_cut_at_its_first_repeat() -> None:
    llm, _ = _llm(
        [_chunk("已为您催促仓库。"), _chunk("预计明天发出。"), _chunk("预计明天发出。预计")]
    )
    done = await llm.complete([ChatMessage("user", "催一下")], [])
    assert done.content == "已为您催促仓库。预计明天发出。"


def test_broken_native_arguments_are_repaired_but_a_cut_value_is_not_guessed() -> None:
    from xiaoer.llm.openai_compat import _args

    assert _args('{"order_id": "SO1", "reason": "不想要了"') == {
        "order_id": "SO1",
        "reason": "不想要了",
    }
    assert _args("{order_id: 'SO1',}") == {"order_id": "SO1"}
    assert _args('{"order_id": "SO26111') == {}  # the id itself cut off
    assert _args("") == {} and _args("[1, 2]") == {}


CHUNK = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
         "choices": [{"index": 0, "delta": {"content": "好的"}, "finish_reason": "stop"}]}  # fmt: skip


def _sse(*events: str) -> bytes:
    return "".join(f"{e}\n\n" for e in events).encode()


async def test_the_request_on_the_wire_is_the_chat_completions_body() -> None:
    """The endpoint gets the plain chat-completions JSON with the key, and its event stream is
    read back."""
    sent: list[tuple[web.Request, dict[str, Any]]] = []

    async def handler(request: web.Request) -> web.Response:
        sent.append((request, await request.json()))
        body = _sse(f"data: {json.dumps(CHUNK)}", "data: [DONE]")
        return web.Response(body=body, content_type="text/event-stream")

    async with endpoint(handler) as url:
        llm = OpenAICompatLLM(base_url=url, model="m", api_key="k")
        out = await llm.complete([ChatMessage("system", "你是店小二"), ChatMessage("user", "hi")],
                                 TOOLS, mode="call", max_tokens=64)  # fmt: skip
        await llm.aclose()
    assert out.content == "好的"
    ((request, body),) = sent
    assert request.path == "/v1/chat/completions"
    assert request.headers["Authorization"] == "Bearer k"
    assert body == {
        "model": "m",
        "messages": [
            {"role": "system", "content": "你是店小二"},
            {"role": "user", "content": "hi"},
        ],
        "max_tokens": 64,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
        "tools": [t.openai() for t in TOOLS],
        "tool_choice": "required",
    }


async def test_one_connection_serves_call_after_call() -> None:
    """The stream is read to its end after `[DONE]`, so the connection is kept (one left
    unread is closed, and every call would open another)."""
    peers: list[Any] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for event in (f"data: {json.dumps(CHUNK)}", "data: [DONE]"):
            await response.write(_sse(event))
        await asyncio.sleep(0.05)  # the body's end comes after `[DONE]`, as over a network
        await response.write_eof()
        return response

    async with endpoint(handler) as url:
        llm = OpenAICompatLLM(base_url=url, model="m")
        for _ in range(3):
            assert (await llm.complete([ChatMessage("user", "hi")], [])).content == "好的"
        await llm.aclose()
    assert len(peers) == 3 and None not in peers and len(set(peers)) == 1


async def test_server_sent_events_are_read_as_the_format_has_them() -> None:
    """`data:` with or without its space, comments (keep-alives) and other fields skipped, an
    event's data split over lines joined, CRLF line ends, nothing read after `[DONE]`."""
    chunk = {"choices": [{"index": 0, "delta": {"content": "您"}}]}
    split = json.dumps({"choices": [{"index": 0, "delta": {"content": "好"}}]}, indent=1)
    usage = {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2}}
    stream = _sse(
        ": keep-alive",
        f"event: message\nid: 1\ndata:{json.dumps(chunk)}",
        "\n".join(f"data: {line}" for line in split.splitlines()),
        f"data: {json.dumps(usage)}",
        "data: [DONE]",
        f"data: {json.dumps(chunk)}",
    ).replace(b"\n", b"\r\n")

    async def handler(_request: web.Request) -> web.Response:
        return web.Response(body=stream, content_type="text/event-stream")

    async with endpoint(handler) as url:
        llm = OpenAICompatLLM(base_url=url, model="m")
        out = await llm.complete([ChatMessage("user", "hi")], [])
        await llm.aclose()
    assert (out.content, out.tokens_in, out.tokens_out) == ("您好", 5, 2)


async def test_an_unstreamed_completion_is_read_as_one_chunk() -> None:
    """An endpoint that ignores `stream` and answers one JSON completion is still understood."""
    message = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function",
         "function": {"name": "get_order", "arguments": '{"order_id": "SO1"}'}}]}  # fmt: skip
    whole = {"choices": [{"index": 0, "message": message}], "usage": {"prompt_tokens": 7}}

    async def handler(_request: web.Request) -> web.Response:
        return web.json_response(whole)

    async with endpoint(handler) as url:
        llm = OpenAICompatLLM(base_url=url, model="m")
        out = await llm.complete([ChatMessage("user", "查 SO1")], TOOLS)
        await llm.aclose()
    assert out.tool_calls == [ToolCall("c1", "get_order", {"order_id": "SO1"})]
    assert out.tokens_in == 7


async def test_a_busy_status_is_tried_once_more_and_then_an_upstream_error() -> None:
    statuses = [503, 200, 500, 500, 400, 429, 429]
    seen: list[int] = []

    async def handler(_request: web.Request) -> web.Response:
        seen.append(status := statuses[len(seen)])
        if status != 200:
            return web.json_response({"error": {"message": f"boom {status}"}}, status=status)
        return web.Response(
            body=_sse(f"data: {json.dumps(CHUNK)}"), content_type="text/event-stream"
        )

    async with endpoint(handler) as url:
        llm = OpenAICompatLLM(base_url=url, model="m")
        assert (await llm.complete([ChatMessage("user", "hi")], [])).content == "好的"
        with pytest.raises(UpstreamError, match="HTTP 500: .*boom 500") as failed:
            await llm.complete([ChatMessage("user", "hi")], [])
        assert not failed.value.overloaded  # a failure, not "too busy"
        with pytest.raises(UpstreamError, match="HTTP 400"):  # not a busy status: not again
            await llm.complete([ChatMessage("user", "hi")], [])
        with pytest.raises(UpstreamError, match="HTTP 429") as busy:
            await llm.complete([ChatMessage("user", "hi")], [])
        assert busy.value.overloaded  # fewer calls at once, then (`llm/limit.py`)
        await llm.aclose()
    assert seen == statuses


async def test_an_error_mid_stream_and_a_refused_connection_are_upstream_errors() -> None:
    async def handler(_request: web.Request) -> web.Response:
        body = _sse(f"data: {json.dumps(CHUNK)}", 'data: {"error": {"message": "overloaded"}}')
        return web.Response(body=body, content_type="text/event-stream")

    async with endpoint(handler) as url:
        llm = OpenAICompatLLM(base_url=url, model="m")
        with pytest.raises(UpstreamError, match="mid-stream: .*overloaded"):
            await llm.complete([ChatMessage("user", "hi")], [])
        await llm.aclose()
    gone = OpenAICompatLLM(base_url=url, model="m")  # the server is closed: refused, twice
    with pytest.raises(UpstreamError, match="LLM endpoint failed: Client"):
        await gone.complete([ChatMessage("user", "hi")], [])
    await gone.aclose()


async def test_a_page_that_is_no_event_stream_is_an_upstream_error() -> None:
    async def handler(_request: web.Request) -> web.Response:
        return web.Response(text="<html>502 Bad Gateway</html>\n", content_type="text/html")

    async with endpoint(handler) as url:
        llm = OpenAICompatLLM(base_url=url, model="m")
        with pytest.raises(UpstreamError, match="no server-sent event"):
            await llm.complete([ChatMessage("user", "hi")], [])
        await llm.aclose()


async def test_a_call_past_its_timeout_is_an_upstream_error() -> None:
    async def handler(_request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(body=b"", content_type="text/event-stream")

    async with endpoint(handler) as url:
        llm = OpenAICompatLLM(base_url=url, model="m", timeout=0.3)
        started = time.monotonic()
        with pytest.raises(UpstreamError, match="Timeout") as late:
            await llm.complete([ChatMessage("user", "hi")], [])
        assert late.value.overloaded
        assert time.monotonic() - started < 2  # not tried again: the deadline is the bound
        await llm.aclose()


async def test_the_environments_proxy_is_used_and_a_netrc_entry_changes_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`HTTP_PROXY` (its credentials as Proxy-Authorization) unless the endpoint is on this
    machine or `NO_PROXY` covers it; a `~/.netrc` entry for the endpoint's host does not stop
    the calls (aiohttp's `trust_env` read it on every call and refused to send it next to the
    key's `Authorization`)."""
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    netrc = tmp_path / "netrc"
    netrc.write_text(
        "machine 127.0.0.1 login a password b\nmachine llm.invalid login a password b\n"
    )
    monkeypatch.setenv("NETRC", str(netrc))
    seen: list[tuple[str, str | None, str | None]] = []

    async def handler(request: web.Request) -> web.Response:
        said = request.headers
        seen.append((str(request.url), said.get("Proxy-Authorization"), said.get("Authorization")))
        body = _sse(f"data: {json.dumps(CHUNK)}", "data: [DONE]")
        return web.Response(body=body, content_type="text/event-stream")

    async def ask(base: str) -> str:
        llm = OpenAICompatLLM(base_url=base, model="m", api_key="k")
        try:
            return (await llm.complete([ChatMessage("user", "hi")], [])).content
        finally:
            await llm.aclose()

    async with endpoint(handler) as url:  # the endpoint, and the proxy: it answers either way
        monkeypatch.setenv("HTTP_PROXY", url.removesuffix("/v1").replace("//", "//u:p%40w@"))
        assert await ask("http://llm.invalid/v1") == "好的"  # through the proxy
        assert await ask(url) == "好的"  # on this machine: straight to it
        monkeypatch.setenv("NO_PROXY", ".invalid")
        with pytest.raises(UpstreamError):  # not through the proxy: no such host
            await ask("http://llm.invalid/v1")
    proxied = "Basic " + base64.b64encode(b"u:p@w").decode()
    assert seen == [
        ("http://llm.invalid/v1/chat/completions", proxied, "Bearer k"),
        (f"{url}/chat/completions", None, "Bearer k"),
    ]
