from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from minishop import write_bundle
from xiaoer.api.app import create_app
from xiaoer.config import Settings
from xiaoer.runtime import Runtime
from xiaoer.services import accounts as accounts_service

PASSWORD = "right-password"


@pytest.fixture
async def console(
    settings: Settings, runtime: Runtime, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """The served app (as `xiaoer serve` builds it), with a second shop `other` and accounts:
    `boss` owner of mini, `li` agent of mini, `far` owner of other."""
    await runtime.import_shop(write_bundle(tmp_path / "other", shop_id="other"))
    async with runtime.sessions() as s:
        now = runtime.clock()
        await accounts_service.add(s, "boss", PASSWORD, "owner", ["mini"], now)
        await accounts_service.add(s, "li", PASSWORD, "agent", ["mini"], now)
        await accounts_service.add(s, "far", PASSWORD, "owner", ["other"], now)
        await s.commit()
    app = create_app(settings, runtime=runtime)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            yield c


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


async def login(c: httpx.AsyncClient, name: str, password: str = PASSWORD) -> httpx.Response:
    page = await c.get("/console/login")
    assert page.status_code == 200
    return await c.post(
        "/console/login",
        data={"name": name, "password": password, "csrf": csrf_of(page.text)},
    )
