"""Merchant API keys and short-lived signed shopper tokens.

A merchant calls the API with `Authorization: Bearer <api key>` (issued by `xiaoer shop key
SHOP --rotate`, shown once: only its SHA-256 is stored, with a hint of its last characters)
to mint a shopper token for a shopper it has authenticated on its own site. The shopper's
widget then calls the chat endpoints with `Authorization: Bearer <shopper token>`. The token
is `base64url(payload).base64url(HMAC-SHA256(payload))`, payload `{"shop","shopper","exp"}`;
shop and shopper identity for a turn come only from a valid token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from xiaoer.domain.errors import Unauthorized
from xiaoer.services.apikeys import (  # re-exported: the API's callers import them from here
    FINGERPRINT_HEX,
    HINT_TAIL,
    KeyStatus,
    api_key_status,
    hash_key,
    issue_api_key,
    key_hint,
)
from xiaoer.store.repositories import ApiKeyRepository

__all__ = [
    "FINGERPRINT_HEX",
    "HINT_TAIL",
    "KeyStatus",
    "ShopperClaims",
    "api_key_status",
    "hash_key",
    "issue_api_key",
    "key_hint",
    "shop_for_key",
    "sign_shopper_token",
    "verify_shopper_token",
]


async def shop_for_key(reads: async_sessionmaker[AsyncSession], key: str) -> str:
    """The shop whose API key this is. `reads`: a runtime's `reads` (one statement, on
    PostgreSQL without the BEGIN and ROLLBACK a transaction would add: every merchant request
    asks this), or any sessions."""
    async with reads() as s:
        shop_id = await ApiKeyRepository(s).shop_for_hash(hash_key(key))
    if shop_id is None:
        raise Unauthorized("invalid API key")
    return shop_id


@dataclass(frozen=True, slots=True)
class ShopperClaims:
    shop_id: str
    shopper_id: str
    expires_at: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_shopper_token(secret: bytes, shop_id: str, shopper_id: str, expires_at: int) -> str:
    payload = json.dumps(
        {"shop": shop_id, "shopper": shopper_id, "exp": expires_at}, separators=(",", ":")
    ).encode()
    mac = hmac.new(secret, payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(mac)}"


def verify_shopper_token(secret: bytes, token: str, now: datetime) -> ShopperClaims:
    try:
        body, mac = token.split(".", 1)
        payload = _unb64(body)
        given = _unb64(mac)
    except (ValueError, TypeError) as exc:
        raise Unauthorized("malformed shopper token") from exc
    if not hmac.compare_digest(hmac.new(secret, payload, hashlib.sha256).digest(), given):
        raise Unauthorized("invalid shopper token")
    try:
        data = json.loads(payload)
        claims = ShopperClaims(str(data["shop"]), str(data["shopper"]), int(data["exp"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise Unauthorized("malformed shopper token") from exc
    if claims.expires_at < int(now.timestamp()):
        raise Unauthorized("shopper token expired")
    return claims
