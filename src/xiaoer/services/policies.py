"""A shop's policy (店铺策略) as merchants change it: check a draft, compare it with the policy in
force, publish it as a new version, or roll back to an earlier one. The console's policy page
and `xiaoer policy publish|rollback` call these; the dry run against recorded conversations is
`Runtime.replay_policy` (it needs the commerce backend), shown next to the check.

Every publish is one transaction: the shop's policy and its new version are written together,
and a draft that does not validate changes nothing. Publishing the policy already in force adds
no version (`record_version` compares content hashes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import yaml
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.domain.errors import BadInput, NotFound
from xiaoer.policy.diff import FieldChange, diff_policies
from xiaoer.policy.load import PolicyProblem, check_policy, parse_policy
from xiaoer.policy.schema import ShopPolicy
from xiaoer.policy.versions import PolicyVersion, record_version, version, versions
from xiaoer.store.repositories import ShopRepository

__all__ = ["Draft", "check", "draft_text", "history", "publish", "rollback"]

DRAFT_CHARS = 200_000
"""A policy file is a few KB; a draft this long is a paste gone wrong."""


@dataclass(frozen=True, slots=True)
class Draft:
    """A policy text checked against the one in force: its problems (with line numbers) or the
    parsed policy and what it changes."""

    text: str
    policy: ShopPolicy | None
    problems: list[PolicyProblem]
    changes: list[FieldChange]

    @property
    def valid(self) -> bool:
        return self.policy is not None and not self.problems


async def _shop_policy(session: AsyncSession, shop_id: str) -> ShopPolicy:
    shops = ShopRepository(session)
    if await shops.get(shop_id) is None:
        raise NotFound(f"shop {shop_id!r} not found")
    return parse_policy(await shops.policy_data(shop_id), source=f"shop {shop_id} policy")


async def check(session: AsyncSession, shop_id: str, text: str) -> Draft:
    """Validate `text` and compare it with the shop's policy in force (nothing is written)."""
    text = text.replace("\r\n", "\n")  # a browser form sends CRLF
    if len(text) > DRAFT_CHARS:
        raise BadInput(f"the policy is {len(text)} characters; the limit is {DRAFT_CHARS}")
    current = await _shop_policy(session, shop_id)
    policy, problems = check_policy(text)
    changes = diff_policies(current, policy) if policy is not None and not problems else []
    return Draft(text, policy if not problems else None, problems, changes)


async def draft_text(session: AsyncSession, shop_id: str) -> str:
    """The text to start editing from: the newest version as it was written."""
    await _shop_policy(session, shop_id)
    rows = await versions(session, shop_id)
    return rows[-1].text if rows else ""


async def history(session: AsyncSession, shop_id: str) -> list[PolicyVersion]:
    """The shop's versions, newest first."""
    await _shop_policy(session, shop_id)
    return list(reversed(await versions(session, shop_id)))


async def publish(
    session: AsyncSession, shop_id: str, text: str, now: datetime, source: str
) -> tuple[PolicyVersion, bool]:
    """Make `text` the shop's policy: validated, then written with its version in the caller's
    transaction (the caller commits). Returns the version and whether it is a new one."""
    draft = await check(session, shop_id, text)
    if not draft.valid or draft.policy is None:
        lines = [
            f"line {p.line}: {p.field + ': ' if p.field else ''}{p.message}"
            if p.line
            else f"{p.field + ': ' if p.field else ''}{p.message}"
            for p in draft.problems
        ]
        raise BadInput("the policy is not valid / 策略有错误:\n" + "\n".join(lines))
    data = yaml.safe_load(draft.text)
    await ShopRepository(session).set_policy(shop_id, data if isinstance(data, dict) else None)
    return await record_version(session, shop_id, draft.policy, draft.text, now, source)


async def rollback(
    session: AsyncSession, shop_id: str, number: int, now: datetime, by: str
) -> tuple[PolicyVersion, bool]:
    """Publish version `number` again, as it was written (a new version that says so)."""
    earlier = await version(session, shop_id, number)
    return await publish(session, shop_id, earlier.text, now, f"rollback to v{number} by {by}")
