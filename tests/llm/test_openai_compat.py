"""The OpenAI-compatible backend, against a fake client that streams like the SDK does: each
chunk the chat-completions JSON it is on the wire."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

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
    """The SDK client's `post` as the LLM sends with it: the body, and the chunks back."""

    def __init__(self, chunks: list[Any]) -> None:
        self.chunks = chunks
        self.kwargs: dict[str, Any] = {}

    async def post(self, path: str, *, body: dict[str, Any], **_: Any) -> AsyncIterator[Any]:
        assert path == "/chat/completions"
        self.kwargs = body

        async def gen() -> AsyncIterator[Any]:
            for c in self.chunks:
                if isinstance(c, Exception):
                    raise c
                yield c

        return gen()


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


async def test_the_request_on_the_wire_is_the_chat_completions_body() -> None:
    """Sent with the SDK's `client.post` (not its typed `create`): the endpoint still gets the
    plain chat-completions JSON, and the SDK still reads the stream back."""
    import json

    import httpx
    from openai import AsyncOpenAI

    sent: list[httpx.Request] = []
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
             "choices": [{"index": 0, "delta": {"content": "好的"}, "finish_reason": "stop"}]}  # fmt: skip

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        body = f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n"
        return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})

    client = AsyncOpenAI(base_url="http://llm.test/v1", api_key="k", max_retries=0,
                         http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)))  # fmt: skip
    llm = OpenAICompatLLM(base_url="http://llm.test/v1", model="m", client=client)
    out = await llm.complete([ChatMessage("system", "你是店小二"), ChatMessage("user", "hi")],
                             TOOLS, mode="call", max_tokens=64)  # fmt: skip
    assert out.content == "好的"
    (request,) = sent
    assert request.url.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer k"
    body = json.loads(request.content)
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
