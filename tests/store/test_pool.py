"""Pooled PostgreSQL connections: probed only after sitting idle, replaced when the server
dropped them (a restart, an administrator ending sessions), and used without a transaction by
sessions that only read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from pg_fixture import fresh_database
from xiaoer.store import db

pytestmark = pytest.mark.postgres


@pytest.fixture
async def engine(postgres_url: str, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = db.make_engine(await fresh_database(postgres_url, tmp_path.name))
    yield engine
    await engine.dispose()


async def _backend(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _drop(base_url: str, pid: int) -> None:
    """What a restart does to a pooled connection: the server ends its session."""
    conn = await asyncpg.connect(base_url)
    try:
        assert await conn.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await conn.close()


async def test_an_idle_connection_the_server_dropped_is_replaced_before_use(
    engine: AsyncEngine, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "PING_IDLE_S", 0.0)
    first = await _backend(engine)
    await _drop(postgres_url, first)
    assert await _backend(engine) != first


async def test_a_connection_in_steady_use_is_not_probed_and_a_drop_costs_one_statement(
    engine: AsyncEngine, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db, "PING_IDLE_S", 3600.0)
    first = await _backend(engine)
    assert await _backend(engine) == first
    await _drop(postgres_url, first)
    # Not probed: the statement meets the dropped session and fails, as one cut by a restart.
    with pytest.raises(DBAPIError) as cut:
        await _backend(engine)
    assert cut.value.connection_invalidated
    # The pool renewed the connection: the next statement runs.
    assert await _backend(engine) != first


async def _in_transaction(sessions: async_sessionmaker[AsyncSession]) -> bool:
    """Whether a session's statements share one transaction: `now()` is its start."""
    async with sessions() as s:
        first = (await s.execute(text("SELECT now()"))).scalar_one()
        await s.execute(text("SELECT pg_sleep(0.02)"))
        return bool((await s.execute(text("SELECT now()"))).scalar_one() == first)


async def test_a_read_session_runs_each_statement_on_its_own_and_a_session_in_a_transaction(
    engine: AsyncEngine,
) -> None:
    assert not await _in_transaction(db.readers(engine))  # no BEGIN … ROLLBACK around a read
    assert await _in_transaction(db.sessionmaker(engine))
    # the two share the pool: a connection a read used is in a transaction again for a write
    assert await _in_transaction(db.sessionmaker(engine))
    assert not await _in_transaction(db.readers(engine))


async def test_the_pool_keeps_the_configured_connections_open_between_bursts(
    postgres_url: str, tmp_path: Path
) -> None:
    """`XIAOER_DB_POOL` connections stay open when a burst of that many is given back (the
    default of five kept, and the server closed, every connection past them), and no more
    are opened: past them a connection waits for one given back."""
    import asyncio

    engine = db.make_engine(await fresh_database(postgres_url, tmp_path.name), pool=4)
    try:

        async def burst(n: int) -> set[int]:
            conns = [await engine.connect() for _ in range(n)]
            try:
                return set(await asyncio.gather(*(
                    c.scalar(text("SELECT pg_backend_pid()")) for c in conns)))  # fmt: skip
            finally:
                for c in conns:
                    await c.close()

        first = await burst(4)
        assert len(first) == 4 and await burst(4) == first  # kept, not opened again
        held = [await engine.connect() for _ in range(4)]

        async def connect() -> Any:
            return await engine.connect()

        fifth = asyncio.create_task(connect())  # past the pool: waits, opens nothing
        await asyncio.sleep(0.3)
        assert not fifth.done() and engine.sync_engine.pool.checkedout() == 4
        await held[0].close()
        conn = await asyncio.wait_for(fifth, 5)  # the one given back
        pid = await conn.scalar(text("SELECT pg_backend_pid()"))
        await conn.close()
        for c in held[1:]:
            await c.close()
        assert pid in first and engine.sync_engine.pool.checkedin() == 4
    finally:
        await engine.dispose()
