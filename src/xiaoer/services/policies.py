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
from xiaoer.policy.versions import PolicyVersion, policy_yaml, record_version, version, versions
from xiaoer.store.repositories import ShopRepository

__all__ = ["Draft", "check", "draft_text", "history", "publish", "rollback", "set_assist"]

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


async def set_assist(
    session: AsyncSession, shop_id: str, on: bool, now: datetime, by: str
) -> tuple[PolicyVersion, bool]:
    """Switch 智能辅助 (`handoff.assist`) on or off: the policy in force with that one line
    changed, published as a new version (the rest of the text, comments too, as it was)."""
    text = await draft_text(session, shop_id) or policy_yaml(await _shop_policy(session, shop_id))
    changed = _with_flag(text, "handoff", "assist", on)
    policy, problems = check_policy(changed) if changed is not None else (None, [])
    if changed is None or policy is None or problems or policy.handoff.assist != on:
        data = yaml.safe_load(text) or {}  # rewritten whole: comments are lost, values kept
        data.setdefault("handoff", {})["assist"] = on
        changed = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    state = "开启" if on else "关闭"
    return await publish(session, shop_id, changed, now, f"智能辅助{state} by {by}")


def _with_flag(text: str, section: str, key: str, value: bool) -> str | None:
    """`text` with `section.key` set to `value`, changing or adding one line of a block-style
    YAML mapping (what the merchant wrote around it is kept); None where it cannot."""
    lines = text.split("\n")
    word = "true" if value else "false"
    head = next((i for i, line in enumerate(lines) if line.rstrip() == f"{section}:"), None)
    if head is None:
        if any(line.startswith(f"{section}:") for line in lines):
            return None  # flow style (`handoff: {…}`): left to the caller
        return text.rstrip("\n") + f"\n{section}:\n  {key}: {word}\n"
    end = head + 1
    while end < len(lines) and (not lines[end].strip() or lines[end][:1] in (" ", "#")):
        end += 1
    body = [i for i in range(head + 1, end) if lines[i].strip() and lines[i][:1] == " "]
    indent = (len(lines[body[0]]) - len(lines[body[0]].lstrip())) if body else 2
    for i in body:
        if (
            lines[i].strip().startswith(f"{key}:")
            and len(lines[i]) - len(lines[i].lstrip()) == indent
        ):
            lines[i] = f"{' ' * indent}{key}: {word}"
            return "\n".join(lines)
    lines.insert(head + 1, f"{' ' * indent}{key}: {word}")
    return "\n".join(lines)
