"""A merchant's HTTP client for the mini shop (its API key in the Authorization header)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from xiaoer.api.app import create_app
from xiaoer.api.auth import issue_api_key
from xiaoer.config import Settings
from xiaoer.runtime import Runtime


@pytest.fixture
async def merchant(settings: Settings, runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, runtime=runtime)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            key = await issue_api_key(runtime.sessions, "mini")
            c.headers["Authorization"] = f"Bearer {key}"
            yield c
