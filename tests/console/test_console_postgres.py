"""The console's pages on PostgreSQL: sign-in, the dashboard, search (LIKE with escaping), a
transcript and the queue, from the same conversations as the SQLite tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from console_fixture import NOW, PASSWORD, cell, chats, login
from minishop import write_bundle
from pg_fixture import fresh_database
from xiaoer.api.app import create_app
from xiaoer.config import Settings
from xiaoer.llm.scripted import ScriptedLLM
from xiaoer.runtime import Runtime
from xiaoer.services import accounts as accounts_service


@pytest.fixture
async def pg_runtime(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Runtime]:
    url = await fresh_database(request.getfixturevalue("postgres_url"), tmp_path.name)
    settings = Settings(
        home=tmp_path / "home", database_url=url, now=NOW, secret_key="s", guard=False,
        embeddings=False,
    )  # fmt: skip
    rt = await Runtime.open(settings, llm=ScriptedLLM())
    for shop_id in ("mini", "other"):
        await rt.import_shop(write_bundle(tmp_path / shop_id, shop_id=shop_id))
    async with rt.sessions() as s:
        await accounts_service.add(s, "boss", PASSWORD, "owner", ["mini"], rt.clock())
        await s.commit()
    yield rt
    await rt.close()


@pytest.mark.postgres
async def test_console_pages_on_postgres(pg_runtime: Runtime) -> None:
    await chats(pg_runtime)
    app = create_app(pg_runtime.settings, runtime=pg_runtime)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            assert (await login(c, "boss")).status_code == 303
            page = await c.get("/console/mini/?since=2026-11-20&until=2026-11-20")
            assert cell(page.text, "taobao_3min_response_rate") == "33.3%"
            found = (await c.get("/console/mini/conversations", params={"q": "42码"})).text
            assert 'data-id="c1"' in found and 'data-id="c0"' not in found
            wild = (await c.get("/console/mini/conversations", params={"q": "%"})).text
            assert 'data-id="c0"' not in wild  # % is a character, not a wildcard
            handed = (await c.get("/console/mini/conversations?handoff=yes")).text
            assert 'data-id="c2"' in handed and 'data-id="c1"' not in handed
            html = (await c.get("/console/mini/conversations/c0")).text
            assert "get_order" in html and "明天送达" in html
            assert "顾客要求转人工" in (await c.get("/console/mini/queue")).text
            assert (await c.get("/console/other/queue")).status_code == 404
