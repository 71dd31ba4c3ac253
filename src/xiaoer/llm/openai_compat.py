"""Any OpenAI-compatible chat-completions endpoint (vLLM, SGLang, Ollama, DashScope, DeepSeek,
OpenAI…), streaming, over aiohttp.

The request is the plain chat-completions JSON and the answer its server-sent events, read as
the JSON they are: no SDK builds typed requests or chunk models around them. The `openai` SDK
did, and cost a turn worker a fifth of its CPU under load; aiohttp's C parser reads the same
stream for a quarter of the CPU of the SDK over httpx (`xiaoer loadtest`, see README).

Native tool calls are used when the server returns them; a model that writes its call as
JSON text instead is parsed with the same tolerant parser as the embedded model.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import json
import logging
import time
import urllib.parse
import urllib.request
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Any, Protocol

import aiohttp

from xiaoer import __version__
from xiaoer.domain.errors import UpstreamError
from xiaoer.llm.base import ChatMessage, Completion, Mode, OnText, ToolCall, ToolSpec
from xiaoer.llm.loops import cut_repeats
from xiaoer.llm.parse import calls_in_text, lenient_json, looks_like_call, new_call_id

RETRIED = frozenset({408, 409, 429, 500, 502, 503, 504})
"""Statuses a call is sent again for, once: the endpoint busy or restarting."""
BUSY = frozenset({429, 503})
"""Statuses that say the endpoint is too busy: fewer calls at once (`llm/limit.py`)."""
RETRY_PAUSE_S = 0.5
DRAIN_S = 1.0
ERROR_BODY = 2000
"""Bytes of an error answer's body kept for the log."""

log = logging.getLogger(__name__)


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


def env_proxy(url: str) -> tuple[str | None, dict[str, str] | None]:
    """The proxy `HTTP_PROXY` / `HTTPS_PROXY` (or their lower-case names) give for `url`, and
    the credentials in its URL as a Proxy-Authorization header; None when none is set, the
    host is this machine's, or `NO_PROXY` covers it.
    Read once for the endpoint rather than by aiohttp's `trust_env`, which reads the variables
    and `~/.netrc` again in a thread for each request — and fails every call to a host listed
    in `~/.netrc`, since the key is already in the `Authorization` header. As aiohttp does,
    an `https://` proxy is not used (its own TLS is not supported): said once, in the log."""
    parts = urllib.parse.urlsplit(url)
    proxies = urllib.request.getproxies_environment()
    given = proxies.get(parts.scheme)
    host = parts.hostname or ""
    if not given or _loopback(host) or urllib.request.proxy_bypass_environment(host, proxies):
        return None, None
    proxy = urllib.parse.urlsplit(given if "://" in given else f"http://{given}")
    bare = proxy._replace(netloc=proxy.netloc.rpartition("@")[2]).geturl()
    if proxy.scheme != "http":
        log.warning("%s is not supported as a proxy: calling %s directly", bare, url)
        return None, None
    if proxy.username is None:
        return bare, None
    said = f"{urllib.parse.unquote(proxy.username)}:{urllib.parse.unquote(proxy.password or '')}"
    return bare, {"Proxy-Authorization": "Basic " + base64.b64encode(said.encode()).decode()}


def _loopback(host: str) -> bool:
    """An endpoint on this machine (Ollama on localhost, say) is never reached through a proxy."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ChatStream(Protocol):
    """Where the chunks of a streamed chat completion come from (`SSEChat` on the wire)."""

    def chunks(self, body: dict[str, Any]) -> AsyncGenerator[Any, None]: ...

    async def aclose(self) -> None: ...


class SSEChat:
    """POST a chat-completions body to `{base_url}/chat/completions` and yield the chunks of
    its event stream as decoded JSON. `timeout` bounds one call, connecting and reading its
    whole stream included; a refused connection or a busy status (`RETRIED`) is tried once
    more after `RETRY_PAUSE_S`, a call that timed out is not (it would only wait as long
    again: the turn's deadline is the bound that counts). An endpoint that answers with one
    JSON completion instead of a stream is read as a stream of one chunk."""

    def __init__(self, base_url: str, *, api_key: str = "", timeout: float = 30.0) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.timeout = timeout
        self.retries = 1
        self.headers = {
            "Content-Type": "application/json",
            "Accept": "text/event-stream",
            "User-Agent": f"xiaoer/{__version__}",
        }
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"
        self.proxy, self.proxy_headers = env_proxy(self.url)
        if self.proxy_headers and self.url.startswith("http:"):
            # a plain-HTTP request goes to the proxy as it is: its credentials go with it (on
            # HTTPS they go only in the tunnel's CONNECT, never on to the endpoint)
            self.headers |= self.proxy_headers
            self.proxy_headers = None
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _open(self) -> aiohttp.ClientSession:
        """One session (and its kept-alive connections) per event loop: a session cannot
        outlive the loop it was made in, and tests run several."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                connector=aiohttp.TCPConnector(limit=0),
            )
            self._loop = loop
        return self._session

    async def aclose(self) -> None:
        if self._session is not None and self._loop is asyncio.get_running_loop():
            await self._session.close()
        self._session = None

    async def chunks(self, body: dict[str, Any]) -> AsyncGenerator[Any, None]:
        data = json.dumps(body, ensure_ascii=False).encode()
        session = self._open()
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = await session.post(
                    self.url, data=data, headers=self.headers,
                    proxy=self.proxy, proxy_headers=self.proxy_headers,
                )  # fmt: skip
            except aiohttp.ClientConnectionError:
                if last:
                    raise
                await asyncio.sleep(RETRY_PAUSE_S)
                continue
            if response.status in RETRIED and not last:
                response.release()
                await asyncio.sleep(RETRY_PAUSE_S)
                continue
            async with response:
                if response.status != 200:
                    said = (await response.content.read(ERROR_BODY)).decode("utf-8", "replace")
                    raise UpstreamError(
                        f"LLM endpoint failed: HTTP {response.status}: {said}",
                        overloaded=response.status in BUSY,
                    )
                if response.content_type == "application/json":
                    yield _as_chunk(json.loads(await response.read()))
                    return
                async for chunk in _events(response.content):
                    yield chunk
            return


async def _events(stream: aiohttp.StreamReader) -> AsyncIterator[Any]:
    """The `data` of each server-sent event, decoded, until `[DONE]` or the stream ends; an
    event that carries an `error` (some servers fail mid-stream so) is raised, and so is a
    body with no event at all (a proxy's page, say)."""
    lines: list[str] = []
    seen = False
    while True:
        raw = await stream.readline()
        line = raw.decode("utf-8").rstrip("\r\n")
        if raw and line:
            field, _, value = line.partition(":")
            if field == "data":
                lines.append(value[1:] if value.startswith(" ") else value)
            continue  # comments (keep-alives), `event:`, `id:` and `retry:` are not needed
        if lines:
            data, lines, seen = "\n".join(lines), [], True
            if data == "[DONE]":
                await _drain(stream)
                return
            chunk = json.loads(data)
            if isinstance(chunk, dict) and chunk.get("error"):
                raise UpstreamError(f"LLM endpoint failed mid-stream: {chunk['error']}")
            yield chunk
        if not raw:
            if not seen:
                raise UpstreamError("the endpoint's answer had no server-sent event in it")
            return


async def _drain(stream: aiohttp.StreamReader) -> None:
    """Read what follows `[DONE]` (a blank line, the end of the chunked body) so that the
    connection is kept for the next call: one left unread is closed. A server that keeps the
    stream open past `[DONE]` is not waited for longer than `DRAIN_S`."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(DRAIN_S):
            await stream.read()


def _as_chunk(completion: Any) -> Any:
    """A whole (unstreamed) chat completion as the one chunk that would have streamed it."""
    if not isinstance(completion, dict):
        return completion
    if completion.get("error"):
        raise UpstreamError(f"LLM endpoint failed: {completion['error']}")
    choices = [
        {"index": c.get("index", 0), "delta": c.get("message") or {}}
        for c in completion.get("choices") or []
        if isinstance(c, dict)
    ]
    return {"choices": choices, "usage": completion.get("usage")}


class OpenAICompatLLM:
    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str = "",
        timeout: float = 30.0,
        client: ChatStream | None = None,
    ) -> None:
        """`timeout`: seconds for one call, connecting and reading included; one retry on a
        refused connection or a busy status (`SSEChat`)."""
        self.name = model
        self.model = model
        self.client = client or SSEChat(base_url, api_key=api_key, timeout=timeout)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolSpec],
        *,
        mode: Mode = "auto",
        max_tokens: int = 384,
        on_text: OnText | None = None,
    ) -> Completion:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": to_openai(messages),
            "max_tokens": max_tokens,
            "temperature": 0,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if tools and mode != "text":
            body["tools"] = [t.openai() for t in tools]
            body["tool_choice"] = "required" if mode == "call" else "auto"
        started = time.perf_counter()
        try:
            async with contextlib.aclosing(self.client.chunks(body)) as chunks:
                return await self._collect(chunks, tools, on_text, started)
        except UpstreamError:
            raise
        except Exception as exc:  # refused, reset, timed out, not JSON: one clear upstream error
            what = type(exc).__name__
            raise UpstreamError(
                f"LLM endpoint failed: {what}: {exc}".rstrip(": "),
                overloaded=isinstance(exc, TimeoutError),
            ) from exc

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
