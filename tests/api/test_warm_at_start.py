"""The app warms the embedded model's cache at start with the shops it is told to: all of them
by default, the ones named, or none (the demo's chat warms the one shop it talks to)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from xiaoer.api.app import create_app
from xiaoer.config import Settings
from xiaoer.runtime import Runtime


@pytest.mark.parametrize(("warm", "asked"), [(None, [None]), (["mini"], [["mini"]]), ((), [])])
async def test_the_app_warms_the_shops_it_is_told_to(
    settings: Settings,
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
    warm: Sequence[str] | None,
    asked: list[object],
) -> None:
    calls: list[object] = []

    async def warming(shop_ids: Sequence[str] | None = None) -> int:
        calls.append(None if shop_ids is None else list(shop_ids))
        return 0

    monkeypatch.setattr(runtime, "warm", warming)
    app = create_app(settings, runtime=runtime, warm=warm)
    async with app.router.lifespan_context(app):
        await asyncio.sleep(0)  # the warm-up is a background task: let it start
    assert calls == asked
