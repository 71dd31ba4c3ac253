"""The API's error contract: every error answer is JSON `{"error": {"type", "message"}}`.

| status | type                | when                                                          |
|--------|---------------------|---------------------------------------------------------------|
| 400    | `BadInput`          | a body, query or path value fails validation (`details` lists   |
|        |                     | each field and why), a NUL character anywhere in the request   |
| 401    | `Unauthorized`      | missing or bad API key / shopper token                          |
| 403    | `Forbidden`         | authenticated, not allowed                                      |
| 404    | `NotFound`          | an unknown id, or a path no route serves                        |
| 405    | `MethodNotAllowed`  | the path exists, the method does not                            |
| 409    | `Conflict`          | the state does not allow it                                     |
| 413    | `TooLarge`          | a request body over `MAX_BODY_BYTES`                            |
| 429    | `TooManyRequests`   | a shopper over the shop's rate limit                            |
| 500    | `InternalError`     | a bug; the message never carries internal detail                |
| 503    | `Unavailable`       | busy, or the database or Redis is unreachable for a moment (a   |
|        |                     | restart, a failover): send it again, after `Retry-After`;      |
|        |                     | `/readyz` gives each one's state (`checks`)                    |

The `XiaoerError` subclasses (domain/errors.py) carry their own status; FastAPI's and
Starlette's own errors (validation, unknown route, wrong method) are rewritten into the same
shape here, so no answer is ever FastAPI's `{"detail": …}`.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import unquote_to_bytes

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, field_validator
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from xiaoer.domain.errors import Unavailable, XiaoerError

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024
"""The largest request body accepted (its `Content-Length`): room for the biggest document the
API takes (`api/knowledge.py: MAX_DOCUMENT_CHARS`) even written as JSON `\\uXXXX` escapes."""

_HTTP_TYPES = {404: "NotFound", 405: "MethodNotAllowed", 413: "TooLarge"}


def error_body(kind: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"type": kind, "message": message, **extra}}


class ApiModel(BaseModel):
    """A request body: no string in it may hold a NUL character (PostgreSQL cannot store one,
    and no shopper or merchant means one)."""

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("contains a NUL character (\\u0000)")
        return value


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(XiaoerError)
    async def _xiaoer_error(_req: Request, exc: XiaoerError) -> JSONResponse:
        retry = {"Retry-After": OUTAGE_RETRY} if exc.status_code == 503 else None
        return JSONResponse(error_body(type(exc).__name__, exc.message), exc.status_code,
                            headers=retry)  # fmt: skip

    @app.exception_handler(RequestValidationError)
    async def _bad_request(_req: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
        ]
        reason = "; ".join(f"{d['field']}: {d['message']}" for d in details)
        return JSONResponse(error_body("BadInput", reason, details=details), 400)

    @app.exception_handler(HTTPException)
    async def _http_error(_req: Request, exc: HTTPException) -> JSONResponse:
        kind = _HTTP_TYPES.get(exc.status_code, "HTTPError")
        return JSONResponse(error_body(kind, str(exc.detail)), exc.status_code, headers=exc.headers)

    async def _internal(_req: Request, exc: Exception) -> JSONResponse:
        if (outage := outage_of(exc)) is not None:
            log.warning("a request met an outage: %s", exc)
            body = error_body("Unavailable", outage.message)
            return JSONResponse(body, outage.status_code, headers={"Retry-After": OUTAGE_RETRY})
        log.error("unhandled error in a request", exc_info=exc)
        message = "内部错误，请稍后再试 / internal error, please try again later"
        return JSONResponse(error_body("InternalError", message), 500)

    # the store's and the network's errors are answered here, before Starlette's last-resort
    # handler (which answers, then raises the error again for the server to log): an outage
    # is an ordinary 503, not a crash
    for kind in (DBAPIError, PoolTimeout, RedisError, ConnectionError):
        app.add_exception_handler(kind, _internal)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _internal)  # type: ignore[arg-type]


OUTAGE_RETRY = "2"
"""`Retry-After` (seconds) of a 503: busy, or an outage of the database or Redis."""

_OUTAGE_CLASSES = {"PostgresConnectionError", "OperatorInterventionError"}
"""asyncpg's errors for a server that is gone, shutting down or starting up (by name, so this
module does not need asyncpg)."""


def outage_of(exc: BaseException) -> Unavailable | None:
    """An `Unavailable` when `exc` (or what caused it) says the database or Redis could not be
    reached or dropped the connection — a restart or failover the client should wait out and
    retry — rather than a bug; else None."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        names = {k.__name__ for k in type(seen).__mro__}
        if (
            isinstance(
                seen, ConnectionError | PoolTimeout | RedisConnectionError | RedisTimeoutError
            )
            or (isinstance(seen, DBAPIError) and seen.connection_invalidated)
            or names & _OUTAGE_CLASSES
            or "database is locked" in str(seen)
        ):
            return Unavailable("the database or queue is unreachable for a moment; send it again")
        orig = getattr(seen, "orig", None)
        seen = orig if isinstance(orig, BaseException) else (seen.__cause__ or seen.__context__)
    return None


class RequestLimits:
    """ASGI middleware, before routing: a NUL character in the path or query, or a body over
    `max_body` bytes by its `Content-Length`, is answered 400 or 413 in the error shape (a NUL
    inside a JSON body is refused by `ApiModel`, field by field; a chunked body without a
    length meets the fields' own `max_length`)."""

    def __init__(self, app: ASGIApp, *, max_body: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        where = _nul_in(scope)
        if where:
            message = f"the {where} contains a NUL character (%00)"
            await _answer(send, 400, error_body("BadInput", message))
            return
        length = _content_length(scope)
        if length is not None and length > self.max_body:
            await _answer(send, 413, _too_large(self.max_body))
            return
        await self.app(scope, receive, send)


def _too_large(limit: int) -> dict[str, Any]:
    return error_body("TooLarge", f"the request body is over {limit:,} bytes")


def _nul_in(scope: Scope) -> str:
    if "\x00" in scope.get("path", "") or b"%00" in scope.get("raw_path", b""):
        return "path"
    query: bytes = scope.get("query_string", b"")
    if b"\x00" in query or b"\x00" in unquote_to_bytes(query):
        return "query"
    return ""


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _answer(send: Send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body, ensure_ascii=False).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
