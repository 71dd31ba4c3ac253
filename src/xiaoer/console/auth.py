"""Console sessions and CSRF.

The session is a cookie `xiaoer_console`: `base64url(json {a: account id, c: csrf token,
e: expiry}) . hex HMAC-SHA256`, keyed by a key derived from the app's secret (so a shopper
token can never pass for a session, nor the reverse). HttpOnly, SameSite=Lax, path /console.
The account is read from the store on every request, so a removed account is signed out.

CSRF: every form carries a token, and every POST is refused (403) unless the token matches:
the session's token once signed in; before that (the login form) a random token kept in the
`xiaoer_login_csrf` cookie (double submit), so a third-party page cannot sign a browser in
to an account of its choosing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from urllib.parse import parse_qs

from fastapi import Request

from xiaoer.domain.errors import BadInput, Forbidden

__all__ = [
    "LOGIN_CSRF_COOKIE",
    "SESSION_COOKIE",
    "SESSION_SECONDS",
    "Session",
    "check_csrf",
    "form",
    "read_session",
    "sign_session",
]

SESSION_COOKIE = "xiaoer_console"
LOGIN_CSRF_COOKIE = "xiaoer_login_csrf"
SESSION_SECONDS = 12 * 3600
MAX_FORM = 64 * 1024


@dataclass(frozen=True, slots=True)
class Session:
    account_id: int
    csrf: str
    expires: int


def _key(secret: bytes) -> bytes:
    return hmac.new(secret, b"xiaoer console session v1", hashlib.sha256).digest()


def sign_session(secret: bytes, account_id: int, now: float | None = None) -> tuple[str, Session]:
    """A fresh session (new CSRF token) and its cookie value."""
    session = Session(
        account_id, secrets.token_urlsafe(24), int(now or time.time()) + SESSION_SECONDS
    )
    body = json.dumps({"a": account_id, "c": session.csrf, "e": session.expires}).encode()
    payload = base64.urlsafe_b64encode(body).decode().rstrip("=")
    mac = hmac.new(_key(secret), payload.encode(), hashlib.sha256).hexdigest()
    return f"{payload}.{mac}", session


def read_session(secret: bytes, value: str | None, now: float | None = None) -> Session | None:
    """The session in a cookie value, or None when absent, forged, malformed or expired."""
    if not value or "." not in value or len(value) > 1024:
        return None
    payload, mac = value.rsplit(".", 1)
    want = hmac.new(_key(secret), payload.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(mac.encode(), want.encode()):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        session = Session(int(data["a"]), str(data["c"]), int(data["e"]))
    except (ValueError, KeyError, TypeError):
        return None
    return session if session.expires > (now or time.time()) else None


async def form(request: Request) -> dict[str, str]:
    """An `application/x-www-form-urlencoded` body as its first value per field (the console's
    forms post nothing else; no multipart parser needed)."""
    if "application/x-www-form-urlencoded" not in request.headers.get("content-type", ""):
        raise BadInput("expected a form (application/x-www-form-urlencoded)")
    body = await request.body()
    if len(body) > MAX_FORM:
        raise BadInput("form too large")
    try:
        fields = parse_qs(body.decode(), keep_blank_values=True, max_num_fields=50)
    except (UnicodeDecodeError, ValueError):
        raise BadInput("malformed form") from None
    return {k: v[0] for k, v in fields.items()}


def check_csrf(sent: str | None, expected: str | None) -> None:
    """Refuse (403) a POST whose form token does not match the expected one."""
    if not sent or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise Forbidden("CSRF token missing or wrong; reload the page and try again")
