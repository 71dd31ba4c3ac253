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
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from xiaoer.domain.errors import NotFound, Unauthorized
from xiaoer.store.repositories import ApiKeyRepository

FINGERPRINT_HEX = 12
"""How much of a key's SHA-256 its fingerprint shows."""
HINT_TAIL = 4
"""How many of a key's last characters its hint shows (of its 32 random ones)."""


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_hint(shop_id: str, key: str) -> str:
    """The key with its random part elided but for the last characters: `xk_shop_…AbCd`."""
    return f"xk_{shop_id}_…{key[-HINT_TAIL:]}"


@dataclass(frozen=True, slots=True)
class KeyStatus:
    """What can be said of a shop's API key without the key: it is stored only as a hash."""

    shop_id: str
    fingerprint: str = ""
    """The start of the key's SHA-256: compare it with `hash_key(key)` to tell which key it is."""
    hint: str = ""
    """`key_hint`; empty for a key issued before hints were kept."""
    issued_at: datetime | None = None

    @property
    def exists(self) -> bool:
        return bool(self.fingerprint)


async def issue_api_key(
    sessions: async_sessionmaker[AsyncSession], shop_id: str, now: datetime | None = None
) -> str:
    """A new key for the shop, returned once (only its hash is kept); the old one stops
    working."""
    key = f"xk_{shop_id}_{secrets.token_urlsafe(24)}"
    hint, issued_at = key_hint(shop_id, key), now or datetime.now(UTC)
    async with sessions() as s:
        if not await ApiKeyRepository(s).set_key(shop_id, hash_key(key), hint, issued_at):
            raise NotFound(f"shop {shop_id!r} not found")
        await s.commit()
    return key


async def api_key_status(sessions: async_sessionmaker[AsyncSession], shop_id: str) -> KeyStatus:
    async with sessions() as s:
        current = await ApiKeyRepository(s).current(shop_id)
    if current is None:
        raise NotFound(f"shop {shop_id!r} not found")
    key_hash, hint, issued_at = current
    if key_hash is None:
        return KeyStatus(shop_id)
    return KeyStatus(shop_id, key_hash[:FINGERPRINT_HEX], hint or "", issued_at)


async def shop_for_key(sessions: async_sessionmaker[AsyncSession], key: str) -> str:
    async with sessions() as s:
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
