"""What every group of console pages is built with: the runtime, the mount point, and the
shared page helpers of `views.create_console` (its session check, form check and renderer)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi.responses import HTMLResponse

from xiaoer.runtime import Runtime

type PageCtx = Callable[..., Awaitable[dict[str, Any]]]
"""`page_ctx(request, shop_id, owner=False)`: the signed-in account's context for a shop's page
(404 for a shop it may not see, 403 for an owner-only page)."""
type Posted = Callable[..., Awaitable[tuple[dict[str, Any], dict[str, str]]]]
"""`posted(request, shop_id, owner=False)`: the page context and the form, CSRF checked."""
type Render = Callable[..., HTMLResponse]
"""`render(request, template, status=200, **ctx)`: a page in the visitor's language."""


@dataclass(frozen=True, slots=True)
class Pages:
    rt: Callable[[], Runtime]
    base: str
    page_ctx: PageCtx
    posted: Posted
    render: Render
