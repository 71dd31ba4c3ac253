"""A real Redis for the test session, on a private port, torn down afterwards.

Uses Debian's `redis-server`, with persistence off. Without it the Redis tests are skipped
locally, and fail under CI=true.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from xiaoer.bench.servers import LocalRedis, ServerMissing


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    try:
        server = LocalRedis()
    except ServerMissing as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    try:
        server.start()
        yield server.url
    finally:
        server.close()
