"""Readiness: can this worker serve? The database answers a trivial query, and Redis a PING
when it is configured (`XIAOER_REDIS_URL`). Each check is bounded, so a hung server makes
`/readyz` fail in seconds rather than hang the load balancer's probe."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

TIMEOUT_S = 2.0


async def check(engine: AsyncEngine, redis_url: str = "") -> dict[str, str]:
    """Each dependency's state, `ok` or what failed (the exception's type only: its message
    may carry a host or a path)."""
    checks = {"database": await _bounded(_database(engine))}
    if redis_url:
        checks["redis"] = await _bounded(_redis(redis_url))
    return checks


async def _bounded(probe: Coroutine[Any, Any, None]) -> str:
    try:
        async with asyncio.timeout(TIMEOUT_S):
            await probe
    except Exception as exc:
        log.warning("readiness check failed: %r", exc)
        return "timeout" if isinstance(exc, TimeoutError) else f"failed ({type(exc).__name__})"
    return "ok"


async def _database(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def _redis(url: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S)
    try:
        await client.ping()
    finally:
        await client.aclose()
