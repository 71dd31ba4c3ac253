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
| 503    | `Unavailable`       | busy: send it again; `/readyz` when the database (or Redis)     |
|        |                     | does not answer (`checks` gives each one's state)              |

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
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from xiaoer.domain.errors import XiaoerError

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
        return JSONResponse(error_body(type(exc).__name__, exc.message), exc.status_code)

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

    @app.exception_handler(Exception)
    async def _internal(_req: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error in a request", exc_info=exc)
        message = "内部错误，请稍后再试 / internal error, please try again later"
        return JSONResponse(error_body("InternalError", message), 500)


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
