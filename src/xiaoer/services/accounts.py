"""Console accounts (控制台账号): who may sign in to the merchant console, with which role, for
which shops.

Passwords are hashed with scrypt (stdlib `hashlib.scrypt`, a random 16-byte salt per account)
and compared in constant time; the password itself is never stored or logged. Roles: `owner`
sees everything of its shops; `agent` sees the conversations and the handoff queue, not the
owner-only pages (settings, policy). A name that fails to sign in too often within a minute is
refused for a while (`LoginThrottle`), whatever the password.

Like every service, these functions never commit: the caller owns the session.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.domain.errors import BadInput, Conflict, Forbidden, NotFound
from xiaoer.store.models import ConsoleAccountRow
from xiaoer.store.repositories import ConsoleAccountRepository, ShopRepository

__all__ = [
    "ROLES",
    "Account",
    "LoginThrottle",
    "add",
    "all_accounts",
    "authenticate",
    "get",
    "hash_password",
    "verify_password",
]

type Role = Literal["owner", "agent"]
ROLES: tuple[Role, ...] = ("owner", "agent")
MIN_PASSWORD = 8
_NAME = re.compile(r"^[\w.@+-]{1,100}$")
_N, _R, _P = 2**14, 8, 1  # scrypt cost: ~16 MB and a few tens of ms per check


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    name: str
    role: str
    shops: tuple[str, ...]

    @property
    def is_owner(self) -> bool:
        return self.role == "owner"

    def may_see(self, shop_id: str) -> bool:
        return shop_id in self.shops


def _account(row: ConsoleAccountRow) -> Account:
    return Account(row.id, row.name, row.role, tuple(str(s) for s in row.shops))


def hash_password(password: str) -> str:
    """`scrypt$n$r$p$salt$hash`, with a fresh random salt."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except ValueError:
        return False
    return hmac.compare_digest(got, bytes.fromhex(digest))


# A hash to check against when the name is unknown, so an unknown name takes as long as a
# wrong password (no telling which names exist by timing).
_DUMMY = hash_password(secrets.token_hex(8))


async def add(
    session: AsyncSession,
    name: str,
    password: str,
    role: str,
    shops: list[str],
    now: datetime,
) -> Account:
    """A new account. Bad input (name, role, short password, unknown shop) is `BadInput`; a
    name already taken is `Conflict`."""
    name = name.strip()
    if not _NAME.match(name):
        raise BadInput(f"account name {name!r}: 1-100 letters, digits or . _ @ + -")
    if role not in ROLES:
        raise BadInput(f"role {role!r}: owner or agent")
    if len(password) < MIN_PASSWORD:
        raise BadInput(f"the password needs at least {MIN_PASSWORD} characters")
    if not shops:
        raise BadInput("an account needs at least one shop (--shop)")
    for shop_id in shops:
        if await ShopRepository(session).get(shop_id) is None:
            raise BadInput(f"shop {shop_id!r} not found; `xiaoer shops` lists the shops")
    repo = ConsoleAccountRepository(session)
    if await repo.by_name(name) is not None:
        raise Conflict(f"account {name!r} already exists")
    row = ConsoleAccountRow(
        name=name,
        password_hash=hash_password(password),
        role=role,
        shops=list(dict.fromkeys(shops)),
        created_at=now,
    )
    return _account(await repo.add(row))


async def add_agent(
    session: AsyncSession, shop_id: str, name: str, password: str, now: datetime
) -> Account:
    """An agent account for this shop, added by its owner on the settings page. Only a new
    name: an existing account (maybe another merchant's) is never given this shop from here."""
    return await add(session, name, password, "agent", [shop_id], now)


async def remove_from_shop(session: AsyncSession, shop_id: str, account_id: int) -> str:
    """The agent account no longer sees this shop (it is signed out of it at its next page:
    every page reads the account afresh); one left with no shop is deleted. Owners are not
    removed from here. Returns the account's name."""
    repo = ConsoleAccountRepository(session)
    row = await repo.get(account_id)
    if row is None or shop_id not in row.shops:
        raise NotFound(f"account {account_id} not found in shop {shop_id!r}")
    if row.role != "agent":
        raise Forbidden("an owner account is managed with `xiaoer account`, not from the console")
    name, left = row.name, [s for s in row.shops if s != shop_id]
    await repo.set_shops(row, left) if left else await repo.remove(row)
    return name


async def authenticate(session: AsyncSession, name: str, password: str) -> Account | None:
    """The account if the name and password match, else None (the same for either mistake)."""
    row = await ConsoleAccountRepository(session).by_name(name.strip())
    if row is None:
        verify_password(password, _DUMMY)
        return None
    return _account(row) if verify_password(password, row.password_hash) else None


async def get(session: AsyncSession, account_id: int) -> Account | None:
    row = await ConsoleAccountRepository(session).get(account_id)
    return None if row is None else _account(row)


async def all_accounts(session: AsyncSession) -> list[Account]:
    return [_account(r) for r in await ConsoleAccountRepository(session).all()]


class LoginThrottle:
    """At most `limit` failed sign-ins per name within `window` seconds; past that the name is
    refused until the oldest failure leaves the window. In-process (one API worker); a
    deployment with several workers shares nothing here yet."""

    def __init__(self, limit: int = 5, window: float = 60.0, *, names: int = 10_000) -> None:
        self.limit = limit
        self.window = window
        self.names = names
        """Names remembered at most: past it, names without a recent failure are forgotten, so
        failures under made-up names cannot grow the process without bound."""
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, name: str, now: float) -> deque[float]:
        seen = self._failures.setdefault(name.strip().lower(), deque())
        while seen and seen[0] <= now - self.window:
            seen.popleft()
        return seen

    def blocked(self, name: str, now: float) -> bool:
        return len(self._recent(name, now)) >= self.limit

    def failed(self, name: str, now: float) -> None:
        self._recent(name, now).append(now)
        if len(self._failures) > self.names:
            for key in list(self._failures):
                if not self._recent(key, now):
                    del self._failures[key]

    def succeeded(self, name: str) -> None:
        self._failures.pop(name.strip().lower(), None)
