"""A real PostgreSQL 15 for the test session, on a private port, torn down afterwards.

Uses Debian's `postgresql-15` binaries. PostgreSQL refuses to run as root, so when the tests
run as root the server runs as the `postgres` user (`runuser`) in a temp folder it owns.
Without the binaries the PostgreSQL tests are skipped locally, and fail under CI=true.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from xiaoer.bench.servers import LocalPostgres, ServerMissing


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    try:
        server = LocalPostgres()
    except ServerMissing as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    try:
        server.start()
        yield server.url
    finally:
        server.close()


async def fresh_database(base: str, name: str) -> str:
    """A new, empty database on the test server (named after `name`); its URL."""
    import asyncpg

    db = "t_" + "".join(c for c in name.lower() if c.isalnum())[-40:]
    conn = await asyncpg.connect(base)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{db}"')
        await conn.execute(f'CREATE DATABASE "{db}"')
    finally:
        await conn.close()
    return base.rsplit("/", 1)[0] + f"/{db}"
