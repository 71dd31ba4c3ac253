"""Merchant KPIs over HTTP: `GET /v1/kpis?since=YYYY-MM-DD&until=YYYY-MM-DD` (both days
included, the shop's timezone; default the 30 days up to today), scoped to the merchant key's
shop. The body is `services.kpis.KpiReport.as_dict()`; definitions in docs/kpis.md. A bad
date is a 400 in the `{"error": {"type", "message"}}` shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from xiaoer.runtime import Runtime
from xiaoer.services import kpis as kpis_service


def kpis_router(rt: Callable[[], Runtime], merchant: Callable[..., Any]) -> APIRouter:
    router = APIRouter(prefix="/v1/kpis", tags=["kpis"])
    shop_dep = Depends(merchant)

    @router.get("")
    async def read_kpis(
        since: Annotated[str | None, Query(max_length=32, description="first day")] = None,
        until: Annotated[str | None, Query(max_length=32, description="last day")] = None,
        shop_id: str = shop_dep,
    ) -> dict[str, Any]:
        """The shop's service KPIs for the period, with a daily series for charts."""
        runtime = rt()
        async with runtime.sessions() as s:
            report = await kpis_service.compute_for_dates(s, shop_id, since, until, runtime.clock())
        return report.as_dict()

    return router
