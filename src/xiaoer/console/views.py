"""The merchant console's pages, mounted by the API app at `/console` (a sub-application, so
its errors are HTML pages while `/v1` keeps the `{"error": …}` JSON shape).

Pages (all server-rendered, Chinese first, `?lang=en` for English):

- `/console/login` (GET, POST), `/console/logout` (POST)
- `/console/{shop}/` dashboard: the KPI figures for a date range (`services.kpis`), with charts
  of the daily series (`charts.py`)
- `/console/{shop}/conversations` search and filter; `/console/{shop}/conversations/{id}` the
  transcript with tool calls, guard verdicts, citations and actions inline
- `/console/{shop}/queue` the handoff queue
- the human workbench on the transcript (take over, reply, whisper, release, approve or reject
  an action) and `/console/{shop}/knowledge` (candidates to review, the merchant's facts):
  `workbench.py`, forms that post and redirect back with a flash message (`?done=`)
- `/console/{shop}/policy` owner only: edit, check with a diff and a dry run, publish as a new
  version, read and roll back to earlier ones (`policy_pages.py`)
- `/console/{shop}/inspection` owner only: 质检, the findings of negative service with their
  evidence, their rates, and the owner's verdicts (`inspection_pages.py`)
- `/console/{shop}/settings` owner only: the shop, its accounts, its usage (daily UV, the plan
  it needs), the API key (rotated here, the
  new one shown once) and the widget snippet

A shop the account may not see is a 404, as if it did not exist; an owner-only page for an
agent is a 403. Every page reads through a service (`xiaoer.services`), never a repository.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException

from xiaoer.config import Settings
from xiaoer.console.auth import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    SESSION_SECONDS,
    Session,
    check_csrf,
    form,
    read_session,
    sign_session,
)
from xiaoer.console.charts import daily_charts
from xiaoer.console.i18n import WORDS, lang_of, translator
from xiaoer.console.imports import add_import_page
from xiaoer.console.inspection_pages import add_inspection_pages
from xiaoer.console.live import add_live
from xiaoer.console.pages import Pages
from xiaoer.console.policy_pages import add_policy_pages
from xiaoer.console.workbench import add_knowledge_pages, add_workbench
from xiaoer.domain.errors import Forbidden, NotFound, TooManyRequests, XiaoerError
from xiaoer.runtime import Runtime
from xiaoer.services import accounts as accounts_service
from xiaoer.services import apikeys as apikeys_service
from xiaoer.services import conversations as conversations_service
from xiaoer.services import kpis as kpis_service
from xiaoer.services import policies as policies_service
from xiaoer.services import shops as shops_service
from xiaoer.services.accounts import Account, LoginThrottle
from xiaoer.services.usage import usage_for_dates

__all__ = ["BASE", "create_console"]


def _llm_backend(settings: Settings) -> dict[str, Any]:
    """What the settings page says of the model: the endpoint's host and model, or the
    embedded one, and the turn deadline — never the endpoint's key. Set per deployment
    (XIAOER_LLM_BASE_URL, XIAOER_LLM_MODEL, XIAOER_TURN_DEADLINE), not per shop."""
    host = urlsplit(settings.llm_base_url).netloc if settings.llm_base_url else ""
    return {"host": host, "model": settings.llm_model, "deadline_s": settings.deadline_s}


BASE = "/console"
LANG_COOKIE = "xiaoer_lang"
_log = logging.getLogger(__name__)
_HEADERS = {
    # One script, served from here (static/live.js); styles are inline in base.html.
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


class _LoginNeeded(Exception):
    """No valid session: the page answers with a redirect to the login form."""


def _fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "rate":
        return f"{value:.1%}"
    return f"{value:.0f}" if unit in ("count", "ms", "tokens") else f"{value:.1f}"


_templates.filters["kpi"] = _fmt_value
_templates.filters["json"] = lambda value: json.dumps(value, ensure_ascii=False)


def create_console(
    rt: Callable[[], Runtime],
    secret: Callable[[], bytes],
    *,
    throttle: LoginThrottle | None = None,
) -> FastAPI:
    """The console app. `rt` and `secret` are read per request (the API's lifespan sets them)."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    limiter = throttle or LoginThrottle()

    def render(request: Request, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        lang = lang_of(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE))
        done = "done_" + request.query_params.get("done", "")[:32]
        html = _templates.get_template(template).render(
            t=translator(lang), lang=lang, base=BASE, words=WORDS, path=request.url.path,
            flash=done if done in WORDS else "", **ctx,
        )  # fmt: skip
        response = HTMLResponse(html, status_code=status, headers=_HEADERS)
        if request.query_params.get("lang") == lang:
            response.set_cookie(LANG_COOKIE, lang, path=BASE, samesite="lax", httponly=True)
        return response

    async def signed_in(request: Request) -> tuple[Account, Session]:
        session = read_session(secret(), request.cookies.get(SESSION_COOKIE))
        if session is None:
            raise _LoginNeeded
        async with rt().sessions() as s:
            account = await accounts_service.get(s, session.account_id)
        if account is None:
            raise _LoginNeeded
        return account, session

    async def page_ctx(request: Request, shop_id: str, *, owner: bool = False) -> dict[str, Any]:
        account, session = await signed_in(request)
        if not account.may_see(shop_id):
            raise NotFound(f"shop {shop_id!r} not found")
        if owner and not account.is_owner:
            raise Forbidden("this page is for the shop's owner")
        async with rt().sessions() as s:
            shop_names = await shops_service.names(s, account.shops)
        if shop_id not in shop_names:
            raise NotFound(f"shop {shop_id!r} not found")
        return {"account": account, "csrf": session.csrf, "shop": shop_id, "shops": shop_names}

    async def posted(
        request: Request, shop_id: str, *, owner: bool = False
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """A form posted to a shop's page: its context (404/403 as the page) and its fields,
        refused (403) without the session's CSRF token."""
        fields = await form(request)
        ctx = await page_ctx(request, shop_id, owner=owner)
        check_csrf(fields.get("csrf"), ctx["csrf"])
        return ctx, fields

    @app.exception_handler(_LoginNeeded)
    async def _to_login(_request: Request, _exc: _LoginNeeded) -> Response:
        return RedirectResponse(f"{BASE}/login", status_code=303)

    @app.exception_handler(XiaoerError)
    async def _error(request: Request, exc: XiaoerError) -> HTMLResponse:
        return render(request, "error.html", exc.status_code, message=exc.message)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> HTMLResponse:
        return render(request, "error.html", exc.status_code, message=str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, _exc: RequestValidationError) -> HTMLResponse:
        return render(request, "error.html", 400, message="bad request")

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> HTMLResponse:
        _log.exception("console page failed", exc_info=exc)
        return render(request, "error.html", 500, message="internal error")

    @app.get("/")
    async def home(request: Request) -> Response:
        account, _ = await signed_in(request)
        return RedirectResponse(f"{BASE}/{account.shops[0]}/", status_code=303)

    def login_page(
        request: Request, status: int = 200, error: str = "", name: str = ""
    ) -> Response:
        token = request.cookies.get(LOGIN_CSRF_COOKIE) or _token()
        response = render(request, "login.html", status, csrf=token, error=error, name=name)
        response.set_cookie(
            LOGIN_CSRF_COOKIE, token, path=BASE, httponly=True, samesite="lax", max_age=3600
        )
        return response

    @app.get("/login")
    async def login_form(request: Request) -> Response:
        return login_page(request)

    @app.post("/login")
    async def login(request: Request) -> Response:
        fields = await form(request)
        check_csrf(fields.get("csrf"), request.cookies.get(LOGIN_CSRF_COOKIE))
        name, password = fields.get("name", "")[:100], fields.get("password", "")[:1000]
        now = time.monotonic()
        if limiter.blocked(name, now):
            raise TooManyRequests(translator("zh")("throttled") + " / " + WORDS["throttled"][1])
        async with rt().sessions() as s:
            account = await accounts_service.authenticate(s, name, password)
        if account is None:
            limiter.failed(name, now)
            return login_page(request, 401, error="bad_login", name=name)
        limiter.succeeded(name)
        value, _ = sign_session(secret(), account.id)
        response = RedirectResponse(f"{BASE}/{account.shops[0]}/", status_code=303)
        response.set_cookie(
            SESSION_COOKIE, value, path=BASE, httponly=True, samesite="lax",
            max_age=SESSION_SECONDS, secure=request.url.scheme == "https",
        )  # fmt: skip
        response.delete_cookie(LOGIN_CSRF_COOKIE, path=BASE)
        return response

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        fields = await form(request)
        _, session = await signed_in(request)
        check_csrf(fields.get("csrf"), session.csrf)
        response = RedirectResponse(f"{BASE}/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path=BASE)
        return response

    @app.get("/{shop_id}/")
    async def dashboard(
        request: Request, shop_id: str, since: str | None = None, until: str | None = None
    ) -> Response:
        ctx = await page_ctx(request, shop_id)
        since, until = (since or "").strip()[:32] or None, (until or "").strip()[:32] or None
        runtime = rt()
        async with runtime.sessions() as s:
            report = await kpis_service.compute_for_dates(s, shop_id, since, until, runtime.clock())
        lang = lang_of(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE))
        charts = daily_charts(report.daily, kpis_service.LABELS, lang)
        return render(
            request, "dashboard.html", report=report, labels=kpis_service.LABELS, **ctx,
            charts=charts, since=report.since.date().isoformat(),
            until=(report.until - timedelta(days=1)).date().isoformat(),  # its last day
        )  # fmt: skip

    @app.get("/{shop_id}/conversations")
    async def conversations(
        request: Request,
        shop_id: str,
        q: str | None = None,
        handoff: str | None = None,
        outcome: str | None = None,
        rated: str | None = None,
    ) -> Response:
        ctx = await page_ctx(request, shop_id)
        handed = {"yes": True, "no": False}.get(handoff or "")
        outcome, rated = outcome or None, rated or None
        async with rt().sessions() as s:
            items = await conversations_service.listed(
                s, shop_id, text=q, handoff=handed, outcome=outcome, rated=rated
            )
        return render(
            request, "conversations.html", items=items, q=q or "", handoff=handoff or "",
            outcome=outcome or "", outcomes=conversations_service.OUTCOMES, rated=rated or "",
            ratings=conversations_service.RATED, **ctx,
        )  # fmt: skip

    async def transcript_page(
        request: Request, ctx: dict[str, Any], conversation_id: str, **more: Any
    ) -> Response:
        runtime = rt()
        async with runtime.sessions() as s:
            record = await conversations_service.transcript(
                s, ctx["shop"], conversation_id, runtime.clock()
            )
        return render(request, "transcript.html", c=record,
                      outcomes=conversations_service.OUTCOMES, **more, **ctx)  # fmt: skip

    @app.get("/{shop_id}/conversations/{conversation_id}")
    async def transcript(request: Request, shop_id: str, conversation_id: str) -> Response:
        ctx = await page_ctx(request, shop_id)
        return await transcript_page(request, ctx, conversation_id)

    @app.post("/{shop_id}/conversations/{conversation_id}/suggest")
    async def suggest(request: Request, shop_id: str, conversation_id: str) -> Response:
        """Agent assist: a draft reply to the shopper's last message, with the facts and
        knowledge it rests on, put in the reply box for the human to edit and send (nothing
        is sent or stored)."""
        ctx, _ = await posted(request, shop_id)
        suggestion = await rt().inbox().suggest(shop_id, conversation_id)
        return await transcript_page(request, ctx, conversation_id, suggestion=suggestion)

    @app.get("/{shop_id}/queue")
    async def queue(request: Request, shop_id: str) -> Response:
        ctx = await page_ctx(request, shop_id)
        runtime = rt()
        async with runtime.sessions() as s:
            items = await conversations_service.queue(s, shop_id, runtime.clock())
        return render(request, "queue.html", items=items, **ctx)

    @app.get("/{shop_id}/settings")
    async def settings(request: Request, shop_id: str) -> Response:
        ctx = await page_ctx(request, shop_id, owner=True)
        return await settings_page(request, ctx)

    async def settings_page(request: Request, ctx: dict[str, Any], **more: Any) -> Response:
        runtime = rt()
        async with runtime.sessions() as s:
            overview = await shops_service.overview(s, ctx["shop"])
            usage = await usage_for_dates(
                s, ctx["shop"], None, None, runtime.clock(),
                free_daily_uv=runtime.settings.free_daily_uv, plans=runtime.settings.plans,
            )  # fmt: skip
        origin = str(request.base_url).rstrip("/").removesuffix(BASE)
        policy = await runtime.assistant().policy_for(ctx["shop"])
        return render(request, "settings.html", overview=overview, origin=origin,
                      usage=usage.as_dict(), assist=policy.handoff.assist,
                      handoff=policy.handoff, llm=_llm_backend(runtime.settings),
                      **more, **ctx)  # fmt: skip

    @app.post("/{shop_id}/settings/assist")
    async def switch_assist(request: Request, shop_id: str) -> Response:
        """智能辅助 on or off (`handoff.assist`): a new version of the shop's policy with that
        one setting changed, in its history like any other."""
        ctx, fields = await posted(request, shop_id, owner=True)
        on, runtime = fields.get("assist") == "on", rt()
        async with runtime.sessions() as s:
            await policies_service.set_assist(s, shop_id, on, runtime.clock(), ctx["account"].name)
            await s.commit()
        done = "assist_on" if on else "assist_off"
        return RedirectResponse(f"{BASE}/{shop_id}/settings?done={done}", status_code=303)

    @app.post("/{shop_id}/settings/accounts")
    async def add_agent(request: Request, shop_id: str) -> Response:
        """The owner adds an agent account (客服账号) for this shop with its first password."""
        ctx, fields = await posted(request, shop_id, owner=True)
        runtime = rt()
        async with runtime.sessions() as s:
            await accounts_service.add_agent(s, shop_id, fields.get("name", ""),
                                             fields.get("password", ""), runtime.clock())  # fmt: skip
            await s.commit()
        return RedirectResponse(f"{BASE}/{shop_id}/settings?done=agent_added", status_code=303)

    @app.post("/{shop_id}/settings/accounts/{account_id}/remove")
    async def remove_agent(request: Request, shop_id: str, account_id: int) -> Response:
        """The owner takes this shop away from an agent account (deleted if it has no other)."""
        await posted(request, shop_id, owner=True)
        async with rt().sessions() as s:
            await accounts_service.remove_from_shop(s, shop_id, account_id)
            await s.commit()
        return RedirectResponse(f"{BASE}/{shop_id}/settings?done=agent_removed", status_code=303)

    @app.post("/{shop_id}/settings/api-key")
    async def rotate_key(request: Request, shop_id: str) -> Response:
        """A new API key for the shop, shown on this page once (never in a URL, never
        stored); the old key stops working at once."""
        ctx, _ = await posted(request, shop_id, owner=True)
        runtime = rt()
        key = await apikeys_service.issue_api_key(runtime.sessions, shop_id, runtime.clock())
        return await settings_page(request, ctx, new_key=key)

    pages = Pages(rt, BASE, page_ctx, posted, render)
    add_workbench(app, pages)
    add_knowledge_pages(app, pages)
    add_import_page(app, pages)
    add_policy_pages(app, pages)
    add_inspection_pages(app, pages)
    add_live(app, pages)
    return app


def _token() -> str:
    return secrets.token_urlsafe(24)
