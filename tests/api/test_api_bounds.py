"""Malformed and out-of-range input gets a 4xx in the documented error shape, never a 500 or
FastAPI's `{"detail": …}`: NUL characters (PostgreSQL cannot store them), bad query values,
unknown routes, oversized documents and queries; ordinary document names are accepted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from conftest import NOW
from minishop import write_bundle
from pg_fixture import fresh_database
from xiaoer.api.app import create_app
from xiaoer.api.auth import issue_api_key
from xiaoer.api.knowledge import MAX_DOCUMENT_CHARS, MAX_QUERY_CHARS
from xiaoer.config import Settings
from xiaoer.llm.scripted import ScriptedLLM
from xiaoer.runtime import Runtime


def _error(r: httpx.Response, status: int) -> str:
    """The response is `status` in the documented shape; its message."""
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["type"], str) and body["error"]["message"], body
    return body["error"]["message"]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def both(
    request: pytest.FixtureRequest, llm: ScriptedLLM, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """The merchant's client on SQLite and on PostgreSQL (embeddings off: BM25 is enough)."""
    url = ""
    if request.param == "postgres":
        url = await fresh_database(request.getfixturevalue("postgres_url"), tmp_path.name)
    settings = Settings(
        home=tmp_path / "home", database_url=url, now=NOW, secret_key="s", guard=False,
        embeddings=False,
    )  # fmt: skip
    rt = await Runtime.open(settings, llm=llm)
    await rt.import_shop(write_bundle(tmp_path / "bundle"))
    app = create_app(settings, runtime=rt)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            c.headers["Authorization"] = f"Bearer {await issue_api_key(rt.sessions, 'mini')}"
            yield c
    await rt.close()


async def _shopper(c: httpx.AsyncClient) -> tuple[dict[str, str], str]:
    token = (await c.post("/v1/shopper-tokens", json={"shopper_id": "U1"})).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    cid = (await c.post("/v1/conversations", headers=auth)).json()["conversation_id"]
    return auth, cid


async def test_a_nul_anywhere_is_a_400_with_a_reason(both: httpx.AsyncClient) -> None:
    c = both
    auth, cid = await _shopper(c)
    shopper_calls = [
        c.get("/v1/conversations/cv%00x", headers=auth),
        c.post(f"/v1/conversations/{cid}/messages", json={"text": "hi\x00"}, headers=auth),
        c.post(
            f"/v1/conversations/{cid}/messages",
            json={"text": "hi", "client_key": "k\x00"},
            headers=auth,
        ),
        c.post(f"/v1/conversations/{cid}/actions/a%00/confirm", headers=auth),
    ]
    merchant_calls = [
        c.get("/v1/actions", params={"status": "pending\x00"}),
        c.post("/v1/actions/a%00b/approve", json={}),
        c.post("/v1/actions/ab/reject", json={"note": "\x00"}),
        c.post("/v1/shopper-tokens", json={"shopper_id": "U\x001"}),
        c.get("/v1/knowledge/search", params={"q": "运费\x00"}),
        c.post("/v1/knowledge/facts", json={"text": "周六\x00不发货"}),
        c.post("/v1/knowledge/documents", json={"name": "a.md", "content": "# a\n\x00"}),
        c.delete("/v1/knowledge/sources/doc:%00.md"),
        c.post("/v1/knowledge/candidates/c%00/reject", json={}),
        c.get("/v1/inbox/cv%00"),
        c.get("/v1/inbox", params={"status": "queued\x00"}),
        c.post(f"/v1/inbox/{cid}/whisper", json={"text": "老顾客\x00"}),
        c.post("/v1/inbox/cv%00/takeover", json={"agent": "amy"}),
    ]
    for call in [*shopper_calls, *merchant_calls]:
        r = await call
        assert "NUL" in _error(r, 400), r.request.url


async def test_out_of_range_query_values_are_400(both: httpx.AsyncClient) -> None:
    c = both
    for params in [{"limit": -5}, {"limit": 0}, {"limit": 501}, {"limit": "ten"}]:
        assert "limit" in _error(await c.get("/v1/actions", params=params), 400)
    assert "status" in _error(await c.get("/v1/actions", params={"status": "x" * 33}), 400)
    for params in [{"q": "运费", "k": 0}, {"q": "运费", "k": 1000}, {"q": "运费", "method": "x"}]:
        _error(await c.get("/v1/knowledge/search", params=params), 400)
    assert (await c.get("/v1/actions", params={"limit": 500})).status_code == 200


async def test_every_4xx_is_in_the_error_shape(both: httpx.AsyncClient) -> None:
    c = both
    assert _error(await c.get("/v1/nowhere"), 404) == "Not Found"
    assert _error(await c.get("/v1/shopper-tokens"), 405) == "Method Not Allowed"
    assert "shopper_id" in _error(await c.post("/v1/shopper-tokens", json={}), 400)
    r = await c.post(
        "/v1/shopper-tokens", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert "JSON" in _error(r, 400)
    r = await c.get("/v1/actions", headers={"Authorization": "Bearer nope"})
    assert _error(r, 401) == "invalid API key"
    auth, cid = await _shopper(c)
    r = await c.post(f"/v1/conversations/{cid}/messages?stream=maybe", json={"text": "hi"},
                     headers=auth)  # fmt: skip
    assert "stream" in _error(r, 400)


async def test_ordinary_document_names_are_accepted(both: httpx.AsyncClient) -> None:
    for name in ["faq.md", "guide2.md", "Notes.md", "保养指南.md", "README.TXT", "a b.md"]:
        r = await both.post(
            "/v1/knowledge/documents", json={"name": name, "content": f"# {name}\n\n说明。\n"}
        )
        assert r.status_code == 201, (name, r.text)
    r = await both.post("/v1/knowledge/documents", json={"name": "a\x01b.md", "content": "hi"})
    assert "control characters" in _error(r, 400)


async def test_an_oversized_document_is_a_clear_413(both: httpx.AsyncClient) -> None:
    over = {
        "name": "big.md",
        "content": "# 大\n\n" + "这是很长的说明。" * (MAX_DOCUMENT_CHARS // 8),
    }
    message = _error(await both.post("/v1/knowledge/documents", json=over), 413)
    assert f"{MAX_DOCUMENT_CHARS:,}" in message and "xiaoer ingest docs" in message
    megabyte = {"name": "huge.md", "content": "说明" * 500_000}
    assert "bytes" in _error(await both.post("/v1/knowledge/documents", json=megabyte), 413)


async def test_a_long_search_query_is_refused(both: httpx.AsyncClient) -> None:
    r = await both.get("/v1/knowledge/search", params={"q": "运" * (MAX_QUERY_CHARS + 1)})
    assert f"at most {MAX_QUERY_CHARS}" in _error(r, 400)
    r = await both.get("/v1/knowledge/search", params={"q": "运费" * (MAX_QUERY_CHARS // 2)})
    assert r.status_code == 200


async def test_a_long_shopper_message_is_refused(both: httpx.AsyncClient) -> None:
    auth, cid = await _shopper(both)
    r = await both.post(
        f"/v1/conversations/{cid}/messages", json={"text": "好" * 2001}, headers=auth
    )
    assert "at most 2000" in _error(r, 400)
