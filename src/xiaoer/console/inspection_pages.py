"""The 质检 page (quality inspection), owner only: each pattern's rate over the period and per
day, and every finding with its evidence line — the ones without a verdict first (the review
queue) — each confirmed or dismissed by the owner (`services.inspection`).

- `/console/{shop}/inspection` (GET) `?since=&until=&pattern=`
- `/console/{shop}/inspection/review` (POST) `finding`, `verdict`, `note` → back to the page
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from xiaoer.console.pages import Pages
from xiaoer.services import inspection as inspection_service

__all__ = ["add_inspection_pages"]


def add_inspection_pages(app: FastAPI, pages: Pages) -> None:
    rt, base, page_ctx, posted, render = (
        pages.rt, pages.base, pages.page_ctx, pages.posted, pages.render
    )  # fmt: skip

    @app.get("/{shop_id}/inspection")
    async def inspection(
        request: Request,
        shop_id: str,
        since: str | None = None,
        until: str | None = None,
        pattern: str | None = None,
    ) -> Response:
        ctx = await page_ctx(request, shop_id, owner=True)
        since, until = (since or "").strip()[:32] or None, (until or "").strip()[:32] or None
        runtime = rt()
        async with runtime.sessions() as s:
            report = await inspection_service.inspect(
                s, shop_id, since, until, runtime.clock(), pattern=pattern or None
            )
        reviewed = [f for f in report.findings if f.verdict is not None]
        shown = report.open + reviewed
        return render(
            request, "inspection.html", report=report, findings=shown,
            patterns=inspection_service.PATTERNS, pattern=pattern or "",
            since=report.since.date().isoformat(),
            until=(report.until - timedelta(days=1)).date().isoformat(),  # its last day
            **ctx,
        )  # fmt: skip

    @app.post("/{shop_id}/inspection/review")
    async def review(request: Request, shop_id: str) -> Response:
        ctx, fields = await posted(request, shop_id, owner=True)
        runtime = rt()
        async with runtime.sessions() as s:
            await inspection_service.review(
                s, shop_id, fields.get("finding", ""), fields.get("verdict", ""),
                fields.get("note", "").strip(), ctx["account"].name, runtime.clock(),
            )  # fmt: skip
            await s.commit()
        back = {"done": "qc_reviewed"}
        return RedirectResponse(f"{base}/{shop_id}/inspection?{urlencode(back)}", status_code=303)
