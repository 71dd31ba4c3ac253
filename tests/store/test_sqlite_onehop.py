"""SQLite statements run in one trip to aiosqlite's thread, with the results SQLAlchemy reads
after them (rows, rowcount, lastrowid, description) and its exceptions unchanged."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from xiaoer.store import db


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = db.make_engine(f"sqlite:///{tmp_path}/one.db")
    yield engine
    await engine.dispose()


def test_plain_sqlite_urls_use_the_one_hop_driver() -> None:
    assert db.normalize_url("sqlite:///x.db") == "sqlite+onehop:///x.db"
    # what the driver relies on in aiosqlite (pinned in requirements.lock)
    assert callable(aiosqlite.Connection._execute)
    assert isinstance(aiosqlite.Connection._conn, property)


async def test_writes_reads_and_errors_round_trip(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"))
        one = await conn.execute(text("INSERT INTO t (v) VALUES ('甲')"))
        assert one.lastrowid == 1
        await conn.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": "乙"}, {"v": "丙"}])
        changed = await conn.execute(text("UPDATE t SET v = v || '!' WHERE id > 1"))
        assert changed.rowcount == 2
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT id, v FROM t ORDER BY id"))).all()
        assert [tuple(r) for r in rows] == [(1, "甲"), (2, "乙!"), (3, "丙!")]
        empty = await conn.execute(text("SELECT v FROM t WHERE id = 9"))
        assert list(empty.keys()) == ["v"] and empty.all() == []
        with pytest.raises(IntegrityError):
            await conn.execute(text("INSERT INTO t (v) VALUES ('甲')"))
        await conn.rollback()
        with pytest.raises(OperationalError):
            await conn.execute(text("SELECT nope FROM t"))


async def test_a_rolled_back_write_is_gone(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (v TEXT)"))
    async with engine.connect() as conn:
        await conn.execute(text("INSERT INTO t VALUES ('x')"))
        await conn.rollback()
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0


async def test_a_statement_is_one_trip_to_the_thread(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (v TEXT)"))
        await conn.execute(text("INSERT INTO t VALUES ('x'), ('y')"))
    trips = 0
    real = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: object, *args: object) -> object:
        nonlocal trips
        trips += 1
        return await real(self, fn, *args)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    async with engine.connect() as conn:
        trips = 0
        assert (await conn.execute(text("SELECT v FROM t ORDER BY v"))).scalars().all() == [
            "x",
            "y",
        ]
        assert trips == 1  # SQLAlchemy's own adapter: cursor, execute, fetchall, close = 4
