"""Metering over HTTP: `GET /v1/usage?since=YYYY-MM-DD&until=YYYY-MM-DD` (both days included,
the shop's timezone; default the 30 days up to today), scoped to the merchant key's shop. The
body is `services.usage.UsageReport.as_dict()`: unique shoppers per day, the busiest day, the
days over the free tier and the plan the period needs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from xiaoer.config import Settings
from xiaoer.runtime import Runtime
from xiaoer.services.usage import usage_for_dates


def usage_router(
    rt: Callable[[], Runtime], merchant: Callable[..., Any], settings: Settings
) -> APIRouter:
    router = APIRouter(prefix="/v1/usage", tags=["usage"])
    shop_dep = Depends(merchant)

    @router.get("")
    async def read_usage(
        since: Annotated[str | None, Query(max_length=32, description="first day")] = None,
        until: Annotated[str | None, Query(max_length=32, description="last day")] = None,
        shop_id: str = shop_dep,
    ) -> dict[str, Any]:
        """The shop's daily unique shoppers (UV) and the plan they need."""
        runtime = rt()
        async with runtime.sessions() as s:
            report = await usage_for_dates(
                s, shop_id, since, until, runtime.clock(),
                free_daily_uv=settings.free_daily_uv, plans=settings.plans,
            )  # fmt: skip
        return report.as_dict()

    return router
