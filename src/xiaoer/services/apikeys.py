"""Merchant API keys: issued (shown once; only the SHA-256 is kept, with a hint of the last
characters) and described without the key. The CLI (`xiaoer shop key --rotate`), the console's
settings page and the API's authentication use these."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from xiaoer.domain.errors import NotFound
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
