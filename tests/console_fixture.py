"""The console tests' fixture (`console`: the served app with accounts) and helpers: sign in,
read a form's CSRF token, make chats. A plugin of tests/conftest.py, like pg_fixture."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from minishop import write_bundle
from xiaoer.api.app import create_app
from xiaoer.config import Settings
from xiaoer.runtime import Runtime
from xiaoer.services import accounts as accounts_service
from xiaoer.store.models import ActionRow
from xiaoer.store.repositories import ActionRepository, ConversationRepository, HandoffRepository

NOW = datetime(2026, 11, 20, 14, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
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


SH = ZoneInfo("Asia/Shanghai")


async def chats(runtime: Runtime) -> None:
    """c0: answered in 20 s with a tool call and a failed guard check; c1: answered in 200 s;
    c2: handed to a human (asked), waiting since 11:00; c3 in the other shop."""
    async with runtime.sessions() as s:
        repo = ConversationRepository(s, "mini")
        asked = datetime(2026, 11, 20, 10, 0, tzinfo=SH)
        await repo.create("c0", "U1", "api", asked)
        q = await repo.add_message("c0", "shopper", "订单 O1 到哪了", asked)
        guard = [{"layer": "claims", "passed": False, "claims": ["明天送达"], "ms": 3}]
        cites = [{"source_id": "faq:ship", "title": "发货时间", "snippet": "48小时内发货"}]
        a = await repo.add_message(
            "c0", "assistant", "您的订单已发货", asked + timedelta(seconds=20), reply_to=q.id,
            meta={"guard": guard, "citations": cites, "latency_ms": 1234},
        )  # fmt: skip
        await repo.add_tool_calls(
            a.id, "c0", [{"name": "get_order", "arguments": {"order_id": "O1"},
                          "result": "订单 O1 已发货", "ok": True}],
        )  # fmt: skip
        await ActionRepository(s, "mini").add(
            ActionRow(
                id="act_1", shop_id="mini", conversation_id="c0", shopper_id="U1",
                order_id="O1", tool="start_return", arguments={"order_id": "O1"},
                summary="退货 O1", amount_fen=12900, status="pending", proposed_message_id=a.id,
                created_at=asked, updated_at=asked, expires_at=asked + timedelta(hours=1),
            )
        )  # fmt: skip
        asked = datetime(2026, 11, 20, 10, 30, tzinfo=SH)
        await repo.create("c1", "U2", "api", asked)
        q = await repo.add_message("c1", "shopper", "有没有黑色42码", asked)
        await repo.add_message(
            "c1", "assistant", "有的", asked + timedelta(seconds=200), reply_to=q.id
        )
        asked = datetime(2026, 11, 20, 11, 0, tzinfo=SH)
        await repo.create("c2", "U3", "api", asked)
        await repo.add_message("c2", "shopper", "我要找人工客服", asked)
        await HandoffRepository(s, "mini").open(
            "c2", "U3", "asked", detail="顾客要求", priority=2,
            summary={"need": "我要找人工客服", "tried": [], "orders": ["O9"]}, now=asked,
        )  # fmt: skip
        other = ConversationRepository(s, "other")
        await other.create("c3", "U1", "api", asked)
        await other.add_message("c3", "shopper", "别家店的秘密问题", asked)
        await s.commit()


def cell(html: str, key: str) -> str:
    found = re.search(rf'<tr data-key="{key}">\s*<th[^>]*>[^<]*</th>\s*<td>([^<]*)</td>', html)
    assert found, key
    return found.group(1)
