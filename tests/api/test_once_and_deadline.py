"""A message resent while its first copy is being answered is answered once (SQLite and
PostgreSQL); a model that hangs, fails or answers garbage gives the shopper an apology and a
human within the turn's deadline, never a 5xx or an SSE error; a refused SSE request gets the
JSON 4xx."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from conftest import NOW
from endpoint_fixture import Handler, endpoint
from minishop import write_bundle
from pg_fixture import fresh_database
from xiaoer.agent.bounded import UNAVAILABLE, UNAVAILABLE_EN
from xiaoer.api.app import create_app
from xiaoer.api.auth import issue_api_key
from xiaoer.config import Settings
from xiaoer.llm.base import LLM, ChatMessage, Completion, Mode, OnText, ToolSpec
from xiaoer.llm.openai_compat import OpenAICompatLLM
from xiaoer.llm.scripted import ScriptedLLM, say
from xiaoer.runtime import Runtime


@dataclass
class GatedLLM:
    """The scripted LLM, but each call waits at the gate until the test opens it."""

    inner: ScriptedLLM
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    name: str = "gated"

    async def complete(
        self,
        messages: Sequence[ChatMessage],
        tools: Sequence[ToolSpec],
        *,
        mode: Mode = "auto",
        max_tokens: int = 384,
        on_text: OnText | None = None,
    ) -> Completion:
        self.entered.set()
        await self.gate.wait()
        return await self.inner.complete(
            messages, tools, mode=mode, max_tokens=max_tokens, on_text=on_text
        )


@dataclass
class Api:
    client: httpx.AsyncClient
    rt: Runtime

    async def shopper(self, shopper: str = "U1") -> tuple[dict[str, str], str]:
        token = (await self.client.post("/v1/shopper-tokens", json={"shopper_id": shopper})).json()
        auth = {"Authorization": f"Bearer {token['token']}"}
        cid = (await self.client.post("/v1/conversations", headers=auth)).json()
        return auth, cid["conversation_id"]


async def _api(
    tmp_path: Path, llm: LLM, *, url: str = "", deadline: float | None = None
) -> AsyncIterator[Api]:
    settings = Settings(
        home=tmp_path / "home", database_url=url, now=NOW, secret_key="s", guard=False,
        embeddings=False, turn_deadline=deadline,
    )  # fmt: skip
    rt = await Runtime.open(settings, llm=llm)
    await rt.import_shop(write_bundle(tmp_path / "bundle"))
    app = create_app(settings, runtime=rt)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            c.headers["Authorization"] = f"Bearer {await issue_api_key(rt.sessions, 'mini')}"
            yield Api(c, rt)
    await rt.close()


def _events(text: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (block.split("\n")[0].removeprefix("event: "), json.loads(block.split("\n")[1][6:]))
        for block in text.strip().split("\n\n")
    ]


@pytest.fixture
def gated() -> GatedLLM:
    return GatedLLM(ScriptedLLM())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return await fresh_database(request.getfixturevalue("postgres_url"), tmp_path.name)
    return ""


@pytest.fixture
async def api(db_url: str, gated: GatedLLM, tmp_path: Path) -> AsyncIterator[Api]:
    async for a in _api(tmp_path, gated, url=db_url):
        yield a


async def test_a_resend_while_the_first_copy_is_answered_is_answered_once(
    api: Api, gated: GatedLLM
) -> None:
    gated.inner.steps = [say("您好，我在的，请问有什么可以帮您？")]  # one answer, no second
    auth, cid = await api.shopper()
    url, body = f"/v1/conversations/{cid}/messages", {"text": "在吗", "client_key": "m1"}
    first = asyncio.create_task(api.client.post(url, json=body, headers=auth))
    await asyncio.wait_for(gated.entered.wait(), 10)  # the first copy is with the model
    resent = asyncio.create_task(api.client.post(url, json=body, headers=auth))
    streamed = asyncio.create_task(
        api.client.post(url, json=body, headers=auth | {"Accept": "text/event-stream"})
    )
    await asyncio.sleep(0.2)  # both resends are in, waiting
    gated.gate.set()
    a, b, c = await asyncio.gather(first, resent, streamed)
    assert a.status_code == b.status_code == c.status_code == 200, (a.text, b.text, c.text)
    assert a.json()["reply"] == b.json()["reply"] == "您好，我在的，请问有什么可以帮您？"
    assert (a.json()["replayed"], b.json()["replayed"]) == (False, True)
    events = _events(c.text)
    assert [e for e, _ in events] == ["delta", "done"]
    assert events[1][1]["reply"] == a.json()["reply"] and events[1][1]["replayed"] is True
    assert len(gated.inner.calls) == 1  # the turn ran once
    read = (await api.client.get(f"/v1/conversations/{cid}", headers=auth)).json()
    assert [m["role"] for m in read["messages"]] == ["shopper", "assistant"]
    again = await api.client.post(url, json=body, headers=auth)  # after the answer: stored
    assert again.json()["reply"] == a.json()["reply"] and again.json()["replayed"] is True


async def test_different_keys_are_different_messages(api: Api, gated: GatedLLM) -> None:
    gated.inner.steps = [say("好的。"), say("收到。")]
    gated.gate.set()
    auth, cid = await api.shopper()
    url = f"/v1/conversations/{cid}/messages"
    replies = await asyncio.gather(
        api.client.post(url, json={"text": "在吗", "client_key": "k1"}, headers=auth),
        api.client.post(url, json={"text": "你好", "client_key": "k2"}, headers=auth),
    )
    assert sorted(r.json()["reply"] for r in replies) == ["好的。", "收到。"]
    assert len(gated.inner.calls) == 2


@dataclass
class Hanging:
    """A model that never answers."""

    name: str = "hanging"

    async def complete(self, *_args: Any, **_kwargs: Any) -> Completion:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def _inbox(api: Api) -> list[dict[str, Any]]:
    return (await api.client.get("/v1/inbox")).json()["handoffs"]


async def test_a_hanging_model_gets_an_apology_and_a_human_by_the_deadline(
    tmp_path: Path, db_url: str
) -> None:
    async for api in _api(tmp_path, Hanging(), url=db_url, deadline=0.5):
        auth, cid = await api.shopper()
        url, body = f"/v1/conversations/{cid}/messages", {"text": "在吗", "client_key": "h1"}
        r = await asyncio.wait_for(api.client.post(url, json=body, headers=auth), 10)
        assert r.status_code == 200, r.text
        out = r.json()
        assert out["reply"].startswith(UNAVAILABLE) and "人工客服" in out["reply"]
        assert out["fallback"] is True and out["handoff"]["reason"] == "unavailable"
        read = (await api.client.get(f"/v1/conversations/{cid}", headers=auth)).json()
        assert [(m["role"], m["text"]) for m in read["messages"]] == [
            ("shopper", "在吗"),
            ("assistant", out["reply"]),
        ]
        [queued] = await _inbox(api)
        assert queued["conversation_id"] == cid and queued["reason"] == "unavailable"
        again = (await api.client.post(url, json=body, headers=auth)).json()
        assert again["reply"] == out["reply"] and again["replayed"] is True
        # the conversation is now with a human: the next message is not sent to the model
        r = await api.client.post(url, json={"text": "人呢"}, headers=auth)
        assert r.status_code == 200 and "人工客服" in r.json()["reply"]


async def _server_error(_request: web.Request) -> web.Response:
    return web.json_response({"error": {"message": "upstream exploded at 0xdeadbeef"}}, status=500)


async def _garbage(_request: web.Request) -> web.Response:
    return web.Response(body=b"data: {not json\n\n", content_type="text/event-stream")


async def _hang(_request: web.Request) -> web.Response:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


@pytest.mark.parametrize("handler", [_server_error, _garbage, _hang])
async def test_a_failing_endpoint_gets_an_apology_over_sse_not_an_error(
    tmp_path: Path, handler: Handler
) -> None:
    async with endpoint(handler) as base_url:
        llm = OpenAICompatLLM(base_url=base_url, model="m", api_key="k")
        await _apology_over_sse(tmp_path, llm)


async def _apology_over_sse(tmp_path: Path, llm: OpenAICompatLLM) -> None:
    async for api in _api(tmp_path, llm, deadline=1.0):
        auth, cid = await api.shopper()
        r = await asyncio.wait_for(
            api.client.post(
                f"/v1/conversations/{cid}/messages?stream=true",
                json={"text": "Hello, where is my order please?"},
                headers=auth,
            ),
            10,
        )
        assert r.status_code == 200
        events = _events(r.text)
        assert [e for e, _ in events] == ["accepted", "delta", "done"], r.text
        done = events[-1][1]
        assert done["reply"].startswith(UNAVAILABLE_EN) and "human agent" in done["reply"]
        assert done["handoff"]["reason"] == "unavailable" and "0xdeadbeef" not in r.text


async def test_a_refused_sse_request_gets_the_json_4xx(api: Api, gated: GatedLLM) -> None:
    _, cid = await api.shopper("U1")
    other, _ = await api.shopper("U2")
    r = await api.client.post(
        f"/v1/conversations/{cid}/messages",
        json={"text": "hi"},
        headers=other | {"Accept": "text/event-stream"},
    )
    assert r.status_code == 403 and r.json()["error"]["type"] == "Forbidden"
    assert gated.inner.calls == []


async def test_an_internal_error_mid_stream_does_not_leak_its_message(
    api: Api, gated: GatedLLM
) -> None:
    def broken(*_args: Any) -> Completion:
        raise RuntimeError("connection pool exhausted at db-7.internal:5432")

    gated.inner.script = broken
    gated.gate.set()
    auth, cid = await api.shopper()
    r = await api.client.post(
        f"/v1/conversations/{cid}/messages?stream=true", json={"text": "在吗"}, headers=auth
    )
    events = _events(r.text)
    assert events[0][0] == "accepted" and events[-1][0] == "error"
    assert events[-1][1]["type"] == "InternalError" and "db-7" not in r.text
