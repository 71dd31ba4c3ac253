from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from minishop import write_bundle
from xiaoer.api.app import create_app
from xiaoer.api.auth import issue_api_key
from xiaoer.config import Settings
from xiaoer.llm.scripted import ScriptedLLM
from xiaoer.runtime import Runtime

NOW = datetime(2026, 11, 20, 14, 0, tzinfo=ZoneInfo("Asia/Shanghai"))

pytest_plugins = ["pg_fixture", "redis_fixture", "console_fixture", "browser_fixture"]


@pytest.fixture(autouse=True)
def keyword_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    """A scripted LLM plays the turn, not the understanding step: unit tests read messages with
    the keyword checks (`XIAOER_UNDERSTAND=keywords`). The model and cascade readers have tests
    of their own (tests/agent/test_understanding.py), and tests/test_real_model.py runs the
    default."""
    monkeypatch.setenv("XIAOER_UNDERSTAND", "keywords")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # The output guard (and its LLM judge) would take scripted steps meant for the turn loop;
    # tests/guard/ switch it on where it is the subject.
    return Settings(home=tmp_path / "home", now=NOW, secret_key="test-secret", guard=False)


@pytest.fixture
def llm() -> ScriptedLLM:
    return ScriptedLLM()


@pytest.fixture
async def runtime(settings: Settings, llm: ScriptedLLM, tmp_path: Path) -> AsyncIterator[Runtime]:
    rt = await Runtime.open(settings, llm=llm)
    await rt.import_shop(write_bundle(tmp_path / "bundle"))
    yield rt
    await rt.close()


@pytest.fixture
async def merchant(settings: Settings, runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, runtime=runtime)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            key = await issue_api_key(runtime.sessions, "mini")
            c.headers["Authorization"] = f"Bearer {key}"
            yield c
