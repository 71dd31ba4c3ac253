"""Any OpenAI-compatible chat-completions endpoint (vLLM, SGLang, Ollama, DashScope, DeepSeek,
OpenAI…), streaming, through the `openai` SDK.

Native tool calls are used when the server returns them; a model that writes its call as
JSON text instead is parsed with the same tolerant parser as the embedded model.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from xiaoer.domain.errors import UpstreamError
from xiaoer.llm.base import ChatMessage, Completion, Mode, OnText, ToolCall, ToolSpec
from xiaoer.llm.loops import cut_repeats
from xiaoer.llm.parse import calls_in_text, lenient_json, looks_like_call, new_call_id


def to_openai(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "assistant" and m.tool_calls:
            out.append(
                {
                    "role": "assistant",
                    "content": m.content or None,
                    "tool_calls": [
                        {
                            "id": c.id,
                            "type": "function",
                            "function": {
                                "name": c.name,
                                "arguments": json.dumps(c.arguments, ensure_ascii=False),
                            },
                        }
                        for c in m.tool_calls
                    ],
                }
            )
        elif m.role == "tool":
            out.append({"role": "tool", "tool_call_id": m.tool_call_id, "content": m.content})
        else:
            out.append({"role": m.role, "content": m.content})
    return out


class OpenAICompatLLM:
    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str = "",
        timeout: float = 30.0,
        client: Any = None,
    ) -> None:
        """`timeout`: seconds for one call, connecting and reading included (the SDK's default
        is 600); one retry on a connection error or a 5xx/429."""
        from openai import AsyncOpenAI

        self.name = model
        self.model = model
        self.client = client or AsyncOpenAI(
            base_url=base_url, api_key=api_key or "none", timeout=timeout, max_retries=1
        )

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolSpec],
        *,
        mode: Mode = "auto",
        max_tokens: int = 384,
        on_text: OnText | None = None,
    ) -> Completion:
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": to_openai(messages),
            "max_tokens": max_tokens,
            "temperature": 0,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if tools and mode != "text":
            kwargs["tools"] = [t.openai() for t in tools]
            kwargs["tool_choice"] = "required" if mode == "call" else "auto"
        started = time.perf_counter()
        try:
            stream = await self._stream(kwargs)
            return await self._collect(stream, tools, on_text, started)
        except UpstreamError:
            raise
        except Exception as exc:  # the SDK's many error types become one clear upstream error
            raise UpstreamError(f"LLM endpoint failed: {type(exc).__name__}: {exc}") from exc

    async def _stream(self, body: dict[str, Any]) -> Any:
        """`chat.completions.create(**body)` without the SDK's walk of the request through its
        typed parameters: the body here is plain JSON already, and the walk cost 40% of the
        client's CPU per call with a shop's prompt and tools (`client.post` is the SDK's own
        way to send a body as it is). The chunks come back as the JSON they are (`object`),
        not built into the SDK's models: building them was a fifth of the rest."""
        from openai import AsyncStream

        return await self.client.post(
            "/chat/completions",
            body=body,
            cast_to=object,
            stream=True,
            stream_cls=AsyncStream[object],
        )

    async def _collect(
        self, stream: Any, tools: Sequence[ToolSpec], on_text: OnText | None, started: float
    ) -> Completion:
        text = ""
        ttft: int | None = None
        parts: dict[int, dict[str, str]] = {}
        usage: dict[str, Any] = {}
        async for chunk in stream:
            if not isinstance(chunk, dict):
                raise UpstreamError(f"the endpoint streamed {type(chunk).__name__}, not a chunk")
            usage = chunk.get("usage") or usage
            if not (choices := chunk.get("choices")):
                continue
            delta = choices[0].get("delta") or {}
            if content := delta.get("content"):
                text += content
                if on_text is not None and not looks_like_call(text):
                    if ttft is None:
                        ttft = int((time.perf_counter() - started) * 1000)
                    await on_text(content)
            for tc in delta.get("tool_calls") or []:
                slot = parts.setdefault(tc.get("index", 0), {"id": "", "name": "", "args": ""})
                slot["id"] = tc.get("id") or slot["id"]
                function = tc.get("function") or {}
                slot["name"] += function.get("name") or ""
                slot["args"] += function.get("arguments") or ""
        calls = [
            ToolCall(p["id"] or new_call_id(), p["name"], _args(p["args"]))
            for _, p in sorted(parts.items())
        ]
        calls = calls or calls_in_text(text, tools)
        return Completion(
            content="" if calls else cut_repeats(text.strip()),
            tool_calls=calls,
            tokens_in=usage.get("prompt_tokens") or 0,
            tokens_out=usage.get("completion_tokens") or 0,
            ttft_ms=ttft,
            raw=text,
        )


def _args(raw: str) -> dict[str, Any]:
    """A native tool call's arguments; broken JSON read as `parse.lenient_json` reads it."""
    value = lenient_json(raw) if raw.strip() else {}
    return value if isinstance(value, dict) else {}
