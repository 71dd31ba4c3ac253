"""The repository suite, on SQLite and on a real PostgreSQL 15."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from conftest import NOW
from minishop import write_bundle
from pg_fixture import fresh_database
from xiaoer.config import Settings
from xiaoer.domain.errors import NotFound
from xiaoer.domain.models import SkuStatus
from xiaoer.llm.scripted import ScriptedLLM
from xiaoer.runtime import Runtime
from xiaoer.services.signals import conversation_topic
from xiaoer.store.models import ShopperRow
from xiaoer.store.repositories import (
    CatalogRepository,
    ConversationRepository,
    OrderRepository,
    ShopperRepository,
    ShopRepository,
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def rt(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Runtime]:
    url = ""
    if request.param == "postgres":
        base = request.getfixturevalue("postgres_url")
        url = await fresh_database(base, tmp_path.name)
    settings = Settings(home=tmp_path / "home", database_url=url, now=NOW)
    runtime = await Runtime.open(settings, llm=ScriptedLLM())
    await runtime.import_shop(write_bundle(tmp_path / "a", shop_id="alpha"))
    await runtime.import_shop(write_bundle(tmp_path / "b", shop_id="beta"))
    yield runtime
    await runtime.close()


async def test_shops_are_isolated(rt: Runtime) -> None:
    async with rt.sessions() as s:
        assert [shop.id for shop in await ShopRepository(s).list()] == ["alpha", "beta"]
        assert await OrderRepository(s, "alpha").get("SO1001") is not None
        await ShopRepository(s).delete("alpha")
        await s.commit()
    async with rt.sessions() as s:
        assert await OrderRepository(s, "alpha").get("SO1001") is None
        assert await OrderRepository(s, "beta").get("SO1001") is not None
        assert (await ShopRepository(s).counts("alpha"))["products"] == 0
        assert (await ShopRepository(s).counts("beta"))["products"] == 3


async def test_orders_round_trip_with_aware_times(rt: Runtime) -> None:
    async with rt.sessions() as s:
        order = await OrderRepository(s, "beta").get("SO1001")
    assert order is not None
    assert order.created_at.utcoffset() == timedelta(0)
    assert order.created_at.isoformat() == "2026-11-10T02:00:00+00:00"
    assert order.shipment is not None and order.shipment.latest is not None
    assert order.shipment.latest.detail == "快件已到达【杭州转运中心】"
    assert order.lines[0].unit_price_fen == 29900


async def test_orders_for_shopper_newest_first(rt: Runtime) -> None:
    async with rt.sessions() as s:
        repo = OrderRepository(s, "alpha")
        assert [o.id for o in await repo.for_shopper("U1")] == ["SO1002", "SO1001"]
        assert [o.id for o in await repo.for_shopper("U1", status="已发货")] == ["SO1001"]
        assert await repo.for_shopper("U404") == []


async def test_catalog_and_shoppers(rt: Runtime) -> None:
    async with rt.sessions() as s:
        product = await CatalogRepository(s, "alpha").get("P1")
        assert product is not None and [sku.stock for sku in product.skus] == [5, 0]
        assert await CatalogRepository(s, "alpha").categories() == ["休闲鞋", "跑鞋"]
        shoppers = await ShopperRepository(s, "alpha").list(limit=1)
        assert [x.id for x in shoppers] == ["U1"] and shoppers[0].phone_tail == "5678"


async def test_sku_status_and_shopper_extras_round_trip(rt: Runtime) -> None:
    async with rt.sessions() as s:
        catalog = CatalogRepository(s, "alpha")
        product = await catalog.get("P1")
        assert product is not None and product.skus[0].status is SkuStatus.ON_SALE
        skus = (
            replace(product.skus[0], status=SkuStatus.PRESALE, restock_date=date(2026, 12, 20)),
            replace(product.skus[1], status=SkuStatus.DISCONTINUED),
        )
        await catalog.upsert([replace(product, skus=skus)])
        await s.execute(
            update(ShopperRow)
            .where(ShopperRow.shop_id == "alpha", ShopperRow.id == "U1")
            .values(extras={"会员等级": "金卡", "标签": ["老客"]})
        )
        await s.commit()
    async with rt.sessions() as s:
        again = await CatalogRepository(s, "alpha").get("P1")
        shopper = await ShopperRepository(s, "alpha").get("U1")
        other = await ShopperRepository(s, "beta").get("U1")
    assert again is not None and again.skus == skus
    assert shopper is not None and shopper.extras == {"会员等级": "金卡", "标签": ["老客"]}
    assert other is not None and other.extras == {}


async def test_conversation_messages_and_client_keys(rt: Runtime) -> None:
    async with rt.sessions() as s:
        repo = ConversationRepository(s, "alpha")
        await repo.create("cv1", "U1", "api", NOW)
        m1 = await repo.add_message("cv1", "shopper", "你好", NOW, client_key="k1")
        await repo.add_message("cv1", "assistant", "您好", NOW, reply_to=m1.id)
        await repo.add_tool_calls(
            m1.id, "cv1", [{"name": "x", "arguments": {"a": 1}, "result": "r", "ok": True}]
        )
        await s.commit()
    async with rt.sessions() as s:
        assert await ConversationRepository(s, "beta").get("cv1") is None
        repo = ConversationRepository(s, "alpha")
        assert [m.content for m in await repo.messages("cv1")] == ["你好", "您好"]
        assert [m.client_key for m in await repo.messages("cv1")] == ["k1", None]
        assert (await repo.reply_to(m1.id)).content == "您好"  # type: ignore[union-attr]
        assert [c.arguments for c in await repo.tool_calls("cv1")] == [{"a": 1}]
    async with rt.sessions() as s:
        repo = ConversationRepository(s, "alpha")
        with pytest.raises(IntegrityError):
            await repo.add_message("cv1", "shopper", "again", NOW, client_key="k1")


async def test_a_turn_reads_its_shop_shopper_and_conversation_in_one_statement(rt: Runtime) -> None:
    """`load_for_turn`: one statement, after which the repositories' gets of those rows read
    nothing; what is missing, or of another shop, is None and `get` decides as before."""
    from sqlalchemy import event

    async with rt.sessions() as s:
        await ConversationRepository(s, "alpha").create("cv1", "U1", "api", NOW)
        await ConversationRepository(s, "beta").create("cv2", "U1", "api", NOW)
        await s.commit()
    seen: list[str] = []

    def note(_c: object, _cur: object, stmt: str, *_a: object) -> None:
        seen.append(stmt)

    event.listen(rt.engine.sync_engine, "before_cursor_execute", note)
    try:
        async with rt.sessions() as s:
            repo = ConversationRepository(s, "alpha")
            held = await repo.load_for_turn("U1", "cv1")
            assert [type(r).__name__ for r in held] == ["ShopRow", "ShopperRow", "ConversationRow"]
            assert len(seen) == 1
            shop = await ShopRepository(s).get("alpha")
            shopper = await ShopperRepository(s, "alpha").get("U1")
            conversation = await repo.get("cv1")
            assert shop and shopper and conversation and conversation.shopper_id == "U1"
            assert len(seen) == 1  # all three from the session
        async with rt.sessions() as s:
            repo = ConversationRepository(s, "alpha")
            shop_row, shopper_row, conversation_row = await repo.load_for_turn("U9", "cv2")
            assert shop_row.id == "alpha" and shopper_row is None and conversation_row is None
            assert await repo.get("cv2") is None  # beta's conversation
            assert await ConversationRepository(s, "zeta").load_for_turn("U1", "cv1") == (
                None, None, None)  # fmt: skip
    finally:
        event.remove(rt.engine.sync_engine, "before_cursor_execute", note)


async def test_knowledge_is_stored_and_searched_per_shop(rt: Runtime, tmp_path: Path) -> None:
    """Chunks, float16 vectors and sources round-trip on SQLite and PostgreSQL alike."""
    doc = tmp_path / "only-alpha.md"
    doc.write_text("# 门店\n\n## 营业时间\n\n线下体验店每天 10:00-22:00 营业。\n", encoding="utf-8")
    kb = rt.knowledge()
    assert (await kb.ingest_document("alpha", doc)).status == "added"
    hit = (await kb.search("alpha", "体验店几点关门", k=1))[0]
    assert hit.passage.id == "doc:only-alpha.md#1" and hit.cosine > 0.5
    beta = await kb.search("beta", "体验店几点关门", k=50)
    assert all(h.passage.source_id != "doc:only-alpha.md" for h in beta)
    fresh = type(kb)(rt.sessions, kb.embedder, rt.clock)  # another process: index from the DB
    assert (await fresh.search("alpha", "体验店几点关门", k=1))[0].passage.id == hit.passage.id


async def test_a_reply_with_its_tool_calls_is_one_statement_on_postgres(rt: Runtime) -> None:
    """`add_reply` stores the reply, its tool calls (in order, as given) and touches the
    conversation: one statement on PostgreSQL — so that it needs no transaction around it —
    three on SQLite; a message alone one statement, or two. Its commit wakes the conversation's
    live streams, also where it is only the end of a statement."""
    from sqlalchemy import event

    later = NOW + timedelta(minutes=5)
    async with rt.sessions() as s:
        repo = ConversationRepository(s, "alpha")
        await repo.create("cv1", "U1", "api", NOW)
        asked = await repo.add_message("cv1", "shopper", "到哪了", NOW)
        await s.commit()
    calls = [
        {"name": "track_logistics", "arguments": {"order_id": "SO1"}, "result": "已签收",
         "ok": True, "latency_ms": 7},
        {"name": "search_knowledge", "arguments": {}, "result": "无", "ok": False},
    ]  # fmt: skip
    seen: list[str] = []

    def note(_c: object, _cur: object, stmt: str, *_a: object) -> None:
        seen.append(stmt)

    one_trip = rt.engine.dialect.name == "postgresql"
    woken = rt.signals.take(conversation_topic("cv1"))
    event.listen(rt.engine.sync_engine, "before_cursor_execute", note)
    try:
        async with rt.writes_at_once() as s:
            repo = ConversationRepository(s, "alpha")
            reply_id = await repo.add_reply("cv1", "已签收了", later, reply_to=asked.id,
                                            meta={"llm_calls": 2}, calls=calls)  # fmt: skip
            assert len(seen) == (1 if one_trip else 3)
            first, seen[:] = seen[0], []
            # one call, arguments nested and not ASCII: on PostgreSQL the very same text as
            # for two calls (compiled and prepared once, whatever the number of calls)
            one = [{"name": "search_products", "arguments": {"q": "红色 M码", "ids": [1, 2]},
                    "result": "有货", "ok": True, "latency_ms": 3}]  # fmt: skip
            third = await repo.add_reply("cv1", "有的", later, reply_to=asked.id, meta={},
                                         calls=one)  # fmt: skip
            if one_trip:
                assert seen == [first]
            seen.clear()
            await repo.add_reply("cv1", "还有别的吗", later, reply_to=asked.id, meta={}, calls=[])
            assert len(seen) == (1 if one_trip else 2)
            assert not woken.is_set()
            await s.commit()
        assert woken.is_set()  # the commit wakes the conversation's live streams
    finally:
        event.remove(rt.engine.sync_engine, "before_cursor_execute", note)
    async with rt.reads() as s:
        repo = ConversationRepository(s, "alpha")
        messages = await repo.messages("cv1")
        stored = await repo.tool_calls("cv1")
        conversation = await repo.get("cv1")
    assert [(m.role, m.content, m.reply_to) for m in messages] == [
        ("shopper", "到哪了", None), ("assistant", "已签收了", asked.id),
        ("assistant", "有的", asked.id), ("assistant", "还有别的吗", asked.id)]  # fmt: skip
    assert messages[1].id == reply_id and messages[1].meta == {"llm_calls": 2}
    assert [
        (c.message_id, c.seq, c.name, c.arguments, c.result, c.ok, c.latency_ms) for c in stored
    ] == [
        (reply_id, 0, "track_logistics", {"order_id": "SO1"}, "已签收", True, 7),
        (reply_id, 1, "search_knowledge", {}, "无", False, 0),
        (third, 0, "search_products", {"q": "红色 M码", "ids": [1, 2]}, "有货", True, 3),
    ]
    assert conversation is not None and conversation.updated_at == later


async def test_a_conversation_opens_in_one_statement_for_a_shopper_on_record(rt: Runtime) -> None:
    """`Assistant.start` stores the conversation (mode `ai`, its channel, its times) with one
    statement that reads the shopper as it writes; a shopper or a shop not on record is told
    apart, and nothing is stored for either."""
    from sqlalchemy import event

    seen: list[str] = []

    def note(_c: object, _cur: object, stmt: str, *_a: object) -> None:
        seen.append(stmt)

    assistant = rt.assistant()
    event.listen(rt.engine.sync_engine, "before_cursor_execute", note)
    try:
        cid = await assistant.start("alpha", "U1", channel="widget")
        assert len(seen) == 1
    finally:
        event.remove(rt.engine.sync_engine, "before_cursor_execute", note)
    with pytest.raises(NotFound, match="shopper 'U404' not found"):
        await assistant.start("alpha", "U404")
    with pytest.raises(NotFound, match="shop 'gamma' not found"):
        await assistant.start("gamma", "U1")
    async with rt.reads() as s:
        opened = await ConversationRepository(s, "alpha").get(cid)
        assert await ConversationRepository(s, "alpha").recent() == [opened]
        assert await ConversationRepository(s, "beta").recent() == []
    assert opened is not None
    assert (opened.shop_id, opened.shopper_id, opened.channel, opened.mode) == (
        "alpha", "U1", "widget", "ai")  # fmt: skip
    assert opened.created_at == opened.updated_at == assistant.clock()


async def test_a_reply_to_a_conversation_that_is_gone_stores_nothing(rt: Runtime) -> None:
    """All or nothing, also where no transaction is around it: a reply whose conversation was
    deleted meanwhile fails, and none of its tool calls are left behind."""
    async with rt.sessions() as s:
        repo = ConversationRepository(s, "alpha")
        await repo.create("cv1", "U1", "api", NOW)
        asked = await repo.add_message("cv1", "shopper", "到哪了", NOW)
        await s.commit()
    calls = [{"name": "x", "arguments": {}, "result": "r", "ok": True}]
    async with rt.writes_at_once() as s:
        with pytest.raises(IntegrityError):
            await ConversationRepository(s, "alpha").add_reply(
                "cv-gone", "已签收了", NOW, reply_to=asked.id, meta={}, calls=calls
            )
    async with rt.reads() as s:
        repo = ConversationRepository(s, "alpha")
        assert [m.role for m in await repo.messages("cv1")] == ["shopper"]
        assert await repo.messages("cv-gone") == []
        assert await repo.tool_calls("cv-gone") == []
