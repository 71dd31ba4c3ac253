"""The ASGI app factory. Tests pass `runtime` (with a scripted LLM); production builds it."""

import asyncio
import hmac
import math
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from xiaoer.agent.actions import ActionView
from xiaoer.agent.events import Accepted, Emit, Event, Queued
from xiaoer.api.auth import ShopperClaims, shop_for_key, sign_shopper_token, verify_shopper_token
from xiaoer.api.errors import ApiModel, RequestLimits, error_body, install_error_handlers
from xiaoer.api.inbox import inbox_router
from xiaoer.api.knowledge import knowledge_router
from xiaoer.api.kpis import kpis_router
from xiaoer.api.sse import STOP_GRACE_S, open_stream
from xiaoer.api.usage import usage_router
from xiaoer.api.widget import widget_router
from xiaoer.config import Settings
from xiaoer.console import BASE as CONSOLE_BASE
from xiaoer.console import create_console
from xiaoer.domain.errors import BadInput, NotFound, Unauthorized
from xiaoer.observability import ready
from xiaoer.observability.metrics import CONTENT_TYPE, HttpMetrics, Metrics
from xiaoer.observability.tracing import setup_tracing
from xiaoer.runtime import Runtime
from xiaoer.services import conversations
from xiaoer.services.streams import respond
from xiaoer.store.repositories import (
    ActionRepository,
    ConversationRepository,
    ShopperRepository,
)
from xiaoer.workers.turns import QueuedTurns

RETRY_S = 2
"""`Retry-After` of a held answer when the line's pace is not known yet."""


class _InLine:
    """A JSON turn's view of its wait in line for the model (`Queued` events)."""

    def __init__(self) -> None:
        self.accepted: Accepted | None = None
        self.last: Queued | None = None
        self._waiting = asyncio.Event()

    async def watch(self, event: Event) -> None:
        if isinstance(event, Accepted):
            self.accepted = event
        elif isinstance(event, Queued):
            self.last = event
            if event.waiting:
                self._waiting.set()
            else:
                self._waiting.clear()

    async def held(self, after_s: float) -> None:
        """Returns once the message has waited in line `after_s` seconds on end."""
        while True:
            await self._waiting.wait()
            await asyncio.sleep(after_s)
            if self._waiting.is_set():
                return

    def retry_after(self) -> int:
        """Whole seconds (1–30) a client should wait before asking again: about when the turn
        gets its turn, from how fast the line moves; `RETRY_S` when that is not known yet."""
        assert self.last is not None
        eta = self.last.eta_s
        return RETRY_S if eta is None else max(1, min(30, math.ceil(eta)))

    def response(self, conversation_id: str, client_key: str | None) -> JSONResponse:
        assert self.last is not None
        retry = self.retry_after()
        body = {
            "held": True,
            "reply": self.last.text,
            "ahead": self.last.ahead,
            "retry_after": retry,
            "conversation_id": conversation_id,
            "message_id": self.accepted.message_id if self.accepted else None,
            "client_key": client_key,
        }
        return JSONResponse(body, 202, headers={"Retry-After": str(retry)})


def _retrieved(task: asyncio.Future[Any]) -> None:
    """A held turn finished after its request was answered: its outcome is stored (and its
    failure logged where it happened), so it is only marked as seen."""
    if not task.cancelled():
        task.exception()


class TokenRequest(ApiModel):
    shopper_id: str = Field(min_length=1, max_length=64)
    ttl_seconds: int | None = Field(default=None, ge=60, le=86400)


class TokenResponse(BaseModel):
    token: str
    expires_at: int


class MessageIn(ApiModel):
    text: str = Field(min_length=1, max_length=2000, description="the shopper's message")
    client_key: str | None = Field(
        default=None, max_length=128, description="idempotency key: a resend is not stored twice"
    )


class ConversationOut(BaseModel):
    conversation_id: str


class RatingIn(ApiModel):
    score: int = Field(ge=1, le=5, description="1 非常不满意 … 5 非常满意")
    comment: str = Field(default="", max_length=500, description="the shopper's words, optional")


class ReviewIn(ApiModel):
    note: str = Field(default="", max_length=500, description="for the audit log and the shopper")


def _bearer(authorization: str | None) -> str:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Unauthorized("missing `Authorization: Bearer …` header")
    return authorization.split(" ", 1)[1].strip()


def create_app(
    settings: Settings, *, runtime: Runtime | None = None, warm: Sequence[str] | None = None
) -> FastAPI:
    """The app. At start it warms the embedded model's cache with the prompt prefixes of the
    `warm` shops (None: as many of all shops as its saved states hold; empty: none)."""
    state: dict[str, Any] = {}

    if settings.queue == "redis" and not settings.redis_url:
        raise BadInput("XIAOER_QUEUE=redis needs XIAOER_REDIS_URL")
    queued = (
        QueuedTurns(settings.redis_url, settings.deadline_s, settings.hold_after)
        if settings.queue == "redis"
        else None
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        tracing = setup_tracing(settings)
        rt = runtime or await Runtime.open(settings)
        if queued is None:
            rt.llm()  # load the model before the first shopper waits for it
        # the shops' prompt prefixes, in the background (here, unless turn workers run them)
        async with rt.warming(warm if queued is None else ()):
            state["rt"] = rt
            state["secret"] = settings.signing_key()
            yield
        if queued is not None:
            await queued.close()
        if runtime is None:
            await rt.close()
        if tracing is not None:
            await asyncio.to_thread(tracing.force_flush, 5000)

    app = FastAPI(
        title="xiaoer 店小二 API",
        version="0.1.0",
        lifespan=lifespan,
        description="Shopper chat over HTTP and SSE. See `api/sse.py` for the event contract.",
    )

    install_error_handlers(app)
    app.add_middleware(RequestLimits)
    # this app's own registry: apps in one process never collide
    metrics = Metrics(queued=queued is not None)
    app.state.metrics = metrics
    app.add_middleware(HttpMetrics, metrics=metrics)

    def rt() -> Runtime:
        return state["rt"]

    async def merchant_shop(authorization: Annotated[str | None, Header()] = None) -> str:
        return await shop_for_key(rt().reads, _bearer(authorization))

    async def shopper(authorization: Annotated[str | None, Header()] = None) -> ShopperClaims:
        return verify_shopper_token(state["secret"], _bearer(authorization), rt().clock())

    Merchant = Annotated[str, Depends(merchant_shop)]
    Shopper = Annotated[ShopperClaims, Depends(shopper)]

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", response_model=None)
    async def readyz() -> JSONResponse | dict[str, Any]:
        """200 when the database answers (and Redis, when `XIAOER_REDIS_URL` is set); else 503
        in the error shape, with each check's state."""
        checks = await ready.check(rt().engine, settings.redis_url)
        if all(state == "ok" for state in checks.values()):
            return {"status": "ok", "checks": checks}
        failed = ", ".join(name for name, state in checks.items() if state != "ok")
        body = error_body("Unavailable", f"not ready: {failed}", checks=checks)
        return JSONResponse(body, 503)

    @app.get("/metrics", response_model=None, include_in_schema=False)
    async def metrics_endpoint(authorization: Annotated[str | None, Header()] = None) -> Response:
        """Prometheus text exposition (`observability/metrics.py`); behind a bearer token when
        `XIAOER_METRICS_TOKEN` is set."""
        if settings.metrics_token:
            given = _bearer(authorization).encode()
            if not hmac.compare_digest(given, settings.metrics_token.encode()):
                raise Unauthorized("wrong metrics token")
        if queued is not None:
            metrics.turn_queue.set(await queued.depth())
        else:
            gate = rt().gated().gate
            metrics.llm_waiting.set(gate.waiting)
            metrics.llm_busy.set(gate.busy)
            metrics.llm_slots.set(gate.slots)
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    @app.post("/v1/shopper-tokens", response_model=TokenResponse)
    async def create_token(body: TokenRequest, shop_id: Merchant) -> TokenResponse:
        """Merchant: mint a short-lived token for a shopper it has signed in."""
        async with rt().reads() as s:  # one read: on PostgreSQL no BEGIN … ROLLBACK around it
            if await ShopperRepository(s, shop_id).get(body.shopper_id) is None:
                raise NotFound(f"shopper {body.shopper_id!r} not found in shop {shop_id!r}")
        ttl = body.ttl_seconds or settings.shopper_token_ttl
        expires = int(rt().clock().timestamp()) + ttl
        token = sign_shopper_token(state["secret"], shop_id, body.shopper_id, expires)
        return TokenResponse(token=token, expires_at=expires)

    @app.post("/v1/conversations", response_model=ConversationOut, status_code=201)
    async def create_conversation(claims: Shopper) -> ConversationOut:
        """Shopper: open a conversation."""
        cid = await rt().assistant().start(claims.shop_id, claims.shopper_id, channel="api")
        return ConversationOut(conversation_id=cid)

    @app.post("/v1/conversations/{conversation_id}/messages", response_model=None)
    async def post_message(
        conversation_id: str,
        body: MessageIn,
        claims: Shopper,
        request: Request,
        stream: bool = False,
    ) -> Any:
        """Shopper: send a message; JSON reply, or SSE with `Accept: text/event-stream`.

        A resend with the same `client_key` is answered once: while the first copy is still
        being answered the resend waits for that answer (`replayed: true`). A model that times
        out or fails gives an apology and a human (`agent/bounded.py`).

        When the model is busy with other conversations and the message has waited in line for
        it `XIAOER_HOLD_AFTER` seconds, the JSON answer is **202** with the holding reply:
        `{held: true, reply, ahead, retry_after, conversation_id, message_id, client_key}`
        (`ahead`: turns before it; `retry_after`, also the `Retry-After` header: seconds until
        it is about its turn). Its turn goes on: in one process the message is stored (`message_id`); with
        turn workers it may still wait on the Redis queue (`message_id` null). Resend it with
        the same `client_key` for the answer (202 again while it still waits). An SSE stream
        stays open and gets `queued` events instead."""
        turns = queued or rt().turns()  # on a turn worker (XIAOER_QUEUE=redis), or here

        streamed = stream or "text/event-stream" in request.headers.get("accept", "")

        async def run(emit: Emit) -> Any:
            turn = turns.turn(
                claims.shop_id,
                claims.shopper_id,
                body.text,
                conversation_id=conversation_id,
                client_key=body.client_key,
                emit=emit,
                watching=streamed,
            )
            return await metrics.timed(turn)

        if streamed:
            frames = await open_stream(run)  # a refusal before the first event is a 4xx here
            return respond(frames, grace_s=settings.deadline_s or STOP_GRACE_S)

        line = _InLine()
        task = asyncio.ensure_future(run(line.watch))
        held = asyncio.ensure_future(line.held(settings.hold_after))
        try:
            await asyncio.wait({task, held}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            held.cancel()
        if not task.done():  # in line for the model: the holding reply now, the answer later
            task.add_done_callback(_retrieved)
            metrics.held.inc()
            return line.response(conversation_id, body.client_key)
        return task.result().public()

    @app.get("/v1/conversations/{conversation_id}")
    async def read_conversation(conversation_id: str, claims: Shopper) -> dict[str, Any]:
        """Shopper: the conversation's messages (and the tools each reply used; a message's
        `client_key`, so that a client resending it after a reload knows it arrived), and
        whether it is handed over to a person (`handed_over`)."""
        async with rt().sessions() as s:
            repo = ConversationRepository(s, claims.shop_id)
            conv = await repo.get(conversation_id)
            if conv is None or conv.shopper_id != claims.shopper_id:
                raise NotFound(f"conversation {conversation_id!r} not found")
            messages = await repo.messages(conversation_id)
            calls = await repo.tool_calls(conversation_id)
            rated = await conversations.rating(s, claims.shop_id, conversation_id)
        by_message: dict[int, list[dict[str, Any]]] = {}
        for c in calls:
            by_message.setdefault(c.message_id, []).append(
                {"name": c.name, "arguments": c.arguments, "ok": c.ok}
            )
        views = await rt().assistant().action_views(claims.shop_id, conversation_id)
        return {
            "conversation_id": conversation_id,
            "handed_over": conv.mode != "ai",  # a person has it, or it waits for one
            "actions": [v.as_dict() for v in views],
            "rating": rated.as_dict() if rated is not None else None,
            "messages": [
                {
                    "id": m.id,
                    "role": m.role,
                    "text": m.content,
                    "created_at": m.created_at.isoformat(),
                    "tool_calls": by_message.get(m.id, []),
                    "client_key": m.client_key if m.role == "shopper" else None,
                }
                for m in messages
                if m.role != "whisper"  # the merchant's instructions to the AI
            ],
        }

    @app.post("/v1/conversations/{conversation_id}/rating")
    async def rate_conversation(
        conversation_id: str, body: RatingIn, claims: Shopper
    ) -> dict[str, Any]:
        """Shopper: rate the conversation 1–5 (满意度评价), once it has an answer; rating it
        again replaces the score. The merchant's CSAT (`GET /v1/kpis`) counts 4 and 5."""
        given = await conversations.rate(
            rt().sessions, claims.shop_id, claims.shopper_id, conversation_id,
            body.score, body.comment, rt().clock(),
        )  # fmt: skip
        return given.as_dict()

    @app.post("/v1/conversations/{conversation_id}/actions/{action_id}/confirm")
    async def confirm_action(conversation_id: str, action_id: str, claims: Shopper) -> Any:
        """Shopper: the confirm button of a pending action (executes it, policy re-checked)."""
        result = (
            await rt()
            .assistant()
            .press(claims.shop_id, claims.shopper_id, conversation_id, action_id, accept=True)
        )
        return result.public()

    @app.post("/v1/conversations/{conversation_id}/actions/{action_id}/decline")
    async def decline_action(conversation_id: str, action_id: str, claims: Shopper) -> Any:
        """Shopper: the decline button of a pending action."""
        result = (
            await rt()
            .assistant()
            .press(claims.shop_id, claims.shopper_id, conversation_id, action_id, accept=False)
        )
        return result.public()

    @app.get("/v1/actions")
    async def list_actions(
        shop_id: Merchant,
        status: Annotated[str | None, Query(max_length=32)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> dict[str, Any]:
        """Merchant: the shop's actions, newest first (`status=awaiting_approval`: the queue)."""
        async with rt().sessions() as s:
            rows = await ActionRepository(s, shop_id).list(status=status, limit=limit)
        return {
            "actions": [
                ActionView.of(r).as_dict() | {"conversation_id": r.conversation_id} for r in rows
            ]
        }

    @app.post("/v1/actions/{action_id}/approve")
    async def approve_action(action_id: str, body: ReviewIn, shop_id: Merchant) -> Any:
        """Merchant: approve an action waiting above the shop's limit (it executes now)."""
        outcome = await rt().review_action(shop_id, action_id, approve=True, note=body.note)
        return ActionView.of(outcome.action).as_dict() | {"reply": outcome.reply}

    @app.post("/v1/actions/{action_id}/reject")
    async def reject_action(action_id: str, body: ReviewIn, shop_id: Merchant) -> Any:
        """Merchant: reject an action waiting for approval."""
        outcome = await rt().review_action(shop_id, action_id, approve=False, note=body.note)
        return ActionView.of(outcome.action).as_dict() | {"reply": outcome.reply}

    app.include_router(knowledge_router(rt, merchant_shop))
    app.include_router(inbox_router(rt, merchant_shop))
    app.include_router(kpis_router(rt, merchant_shop))
    app.include_router(usage_router(rt, merchant_shop, settings))
    app.include_router(widget_router(rt, settings, shopper, lambda: state["secret"]))
    if origins := [o.strip() for o in settings.widget_origins.split(",") if o.strip()]:
        # Bearer tokens, no cookies: a page on one of these origins may call the shopper API.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Accept"],
            max_age=600,
        )
    # The merchant console: its own sub-app, so its errors are HTML pages and /v1 keeps JSON.
    app.mount(CONSOLE_BASE, create_console(rt, lambda: state["secret"]))
    return app


def app_from_env() -> FastAPI:
    """The app from the environment's settings: what each `xiaoer serve --workers N` process
    builds (uvicorn imports it by name in every worker)."""
    return create_app(Settings())
