"""Engine, sessions and migrations. SQLite by default, PostgreSQL by URL."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util import await_only

from xiaoer.store import sqlite_onehop  # noqa: F401  (registers `sqlite+onehop://`)

_MIGRATIONS = Path(__file__).parent / "migrations"


def normalize_url(url: str) -> str:
    """Accept plain `sqlite:///` and `postgresql://` URLs and pick the async drivers (for
    SQLite, aiosqlite one thread hop per statement: `store.sqlite_onehop`)."""
    if url.startswith("sqlite:///"):
        return "sqlite+onehop:///" + url.removeprefix("sqlite:///")
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str, *, pool: int = 20) -> AsyncEngine:
    """`pool`: on PostgreSQL, the connections kept open (`XIAOER_DB_POOL`), and never more: when
    all are in use a session waits for one (up to 30 s) instead of opening another, which the
    server would start a process for and the pool close again when it is given back."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:":
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_async_engine(url, pool_size=pool, max_overflow=0)
    event.listen(engine.sync_engine.pool, "checkin", _note_checkin)
    event.listen(engine.sync_engine.pool, "checkout", _ping_postgres)
    return engine


PING_IDLE_S = 1.0
"""A pooled PostgreSQL connection idle for longer than this is probed before it is used."""


def _note_checkin(_dbapi_conn: Any, record: Any) -> None:
    if record is not None:
        record.info["checked_in"] = time.monotonic()


def _ping_postgres(dbapi_conn: Any, record: Any, _proxy: object) -> None:
    """`pool_pre_ping`, in one round trip instead of three, and only for a connection that sat
    idle: SQLAlchemy's asyncpg ping wraps its probe in BEGIN … ROLLBACK (for PgBouncer, which
    a simple-protocol query does not need), and pings every checkout. A message takes a
    connection about six times across the API and the turn worker, so pinging each was a
    fifth of the statements the server ran under load; a connection given back less than
    `PING_IDLE_S` ago was working then. A connection the server dropped (a restart) is
    replaced: the pool then tries a new one. One that dropped within that second fails its
    first statement like any statement cut by a restart, and SQLAlchemy then renews every
    older connection in the pool."""
    if time.monotonic() - record.info.get("checked_in", float("-inf")) < PING_IDLE_S:
        return
    try:
        await_only(dbapi_conn.driver_connection.execute("SELECT 1"))
    except Exception as exc:
        raise DisconnectionError(f"the pooled connection is gone: {exc!r}") from exc


def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
    cursor = dbapi_conn.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def readers(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that only read. On PostgreSQL each statement runs on its own (autocommit), as
    under READ COMMITTED (the default) each statement of a transaction takes its own snapshot
    anyway: the same rows, without the BEGIN and the ROLLBACK around them — two of the three
    round trips of a one-statement read. A write through one commits at once: use `sessions`.
    SQLite: the usual sessions (its reads open no transaction)."""
    if engine.dialect.name != "postgresql":
        return sessionmaker(engine)
    return sessionmaker(engine.execution_options(isolation_level="AUTOCOMMIT"))


def at_once(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for a write that PostgreSQL takes as one statement (`ConversationRepository.
    add_reply`): it runs on its own, atomic as every statement is, committed as it ends —
    without the BEGIN and the COMMIT around it, two of its three round trips. Nothing else may
    be written through one: two statements would commit one by one. SQLite: the usual
    sessions (the write is several statements there, in one transaction)."""
    return readers(engine)


def _alembic_config(connection: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest migration (idempotent)."""
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: command.upgrade(_alembic_config(sync), "head"))
