"""Numbered versions of a shop's policy.

Each time a shop's policy is set (a bundle import), it is kept as the next version: its content
hash, when, where from, and the YAML text as the merchant wrote it. The hash is over the
validated policy with every default filled in, so a file that only changes comments or layout
is the same version, and the policy a turn ran on names its version by content alone
(`number_for`) — every proposed action records it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime

import yaml
from sqlalchemy.ext.asyncio import AsyncSession

from xiaoer.domain.errors import BadInput, NotFound
from xiaoer.policy.load import load_policy
from xiaoer.policy.schema import ShopPolicy
from xiaoer.store.models import PolicyVersionRow
from xiaoer.store.repositories import PolicyVersionRepository

DEFAULTS_NOTE = "# 没有 policy.yaml：按默认策略运行 / no policy.yaml: the defaults\n"
_REF = re.compile(r"^(?P<shop>[A-Za-z0-9_\-]{1,64})@v?(?P<number>\d{1,6}|latest)$")


LATER_SECTIONS = ("pairing", "upsell", "promotions", "stockout")
"""Sections added after policies were first versioned: left out of the hash while at their
defaults, so a policy that does not use them keeps the hash (and the version) it had."""


LATER_RULE_FIELDS = ("unless",)
"""The same for fields of a rule: left out while not written."""

LATER_FIELDS = {"handoff": ("assist",)}
"""The same for fields added to a section: left out while at their defaults."""


def policy_hash(policy: ShopPolicy) -> str:
    """SHA-256 of the validated policy as canonical JSON (keys sorted, amounts in 元)."""
    data = policy.model_dump(mode="json")
    blank = ShopPolicy().model_dump(mode="json")
    for key in LATER_SECTIONS:
        if data[key] == blank[key]:
            del data[key]
    for section, keys in LATER_FIELDS.items():
        for key in keys:
            if data[section].get(key) == blank[section][key]:
                data[section].pop(key, None)
    for rule in data["rules"]:
        for key in LATER_RULE_FIELDS:
            if rule.get(key) is None:
                rule.pop(key, None)
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def policy_yaml(policy: ShopPolicy) -> str:
    """The whole policy as YAML, amounts in 元 (what `xiaoer policy show` prints)."""
    return yaml.safe_dump(policy.model_dump(mode="json"), allow_unicode=True, sort_keys=False)


@dataclass(frozen=True, slots=True)
class PolicyVersion:
    shop_id: str
    number: int
    content_hash: str
    text: str
    source: str
    created_at: datetime

    @classmethod
    def of(cls, row: PolicyVersionRow) -> PolicyVersion:
        return cls(row.shop_id, row.number, row.content_hash, row.text, row.source, row.created_at)

    @property
    def ref(self) -> str:
        return f"{self.shop_id}@{self.number}"

    def policy(self) -> ShopPolicy:
        """The version read again (it was valid when recorded; a schema change since may make
        it invalid, reported like a bad file)."""
        return load_policy(self.text, source=self.ref)


def parse_ref(text: str) -> tuple[str, int | None] | None:
    """`shop@3` (or `shop@v3`) → ("shop", 3); `shop@latest` → ("shop", None); else None."""
    m = _REF.match(text.strip())
    if m is None:
        return None
    number = m.group("number")
    return m.group("shop"), None if number == "latest" else int(number)


async def record_version(
    session: AsyncSession, shop_id: str, policy: ShopPolicy, text: str, now: datetime, source: str
) -> tuple[PolicyVersion, bool]:
    """Keep `policy` (validated; `text` is its YAML, empty for the defaults) as the shop's newest
    version, unless the newest already has this content. Returns the version and whether it is
    new. In the caller's transaction, next to the write that sets the policy."""
    repo = PolicyVersionRepository(session, shop_id)
    digest = policy_hash(policy)
    latest = await repo.latest()
    if latest is not None and latest.content_hash == digest:
        return PolicyVersion.of(latest), False
    body = text if text.strip() else DEFAULTS_NOTE + policy_yaml(policy)
    return PolicyVersion.of(await repo.add(digest, body, now, source)), True


async def versions(session: AsyncSession, shop_id: str) -> list[PolicyVersion]:
    return [PolicyVersion.of(r) for r in await PolicyVersionRepository(session, shop_id).all()]


async def version(session: AsyncSession, shop_id: str, number: int | None) -> PolicyVersion:
    """Version `number` of the shop's policy (None: the newest); NotFound when there is none."""
    repo = PolicyVersionRepository(session, shop_id)
    row = await (repo.latest() if number is None else repo.get(number))
    if row is None:
        which = "versions" if number is None else f"version {number}"
        raise NotFound(
            f"shop {shop_id!r} has no policy {which} / 没有这个策略版本"
            f" (xiaoer policy versions {shop_id})"
        )
    return PolicyVersion.of(row)


async def version_in_force(
    session: AsyncSession, shop_id: str, at: datetime
) -> PolicyVersion | None:
    row = await PolicyVersionRepository(session, shop_id).in_force(at)
    return None if row is None else PolicyVersion.of(row)


async def number_for(session: AsyncSession, shop_id: str, policy: ShopPolicy) -> int | None:
    """The number of the shop's version with exactly this policy, or None."""
    return await PolicyVersionRepository(session, shop_id).number_for(policy_hash(policy))


def bad_ref(text: str) -> BadInput:
    return BadInput(
        f"{text!r}: no such policy file, and not a version reference (SHOP@NUMBER or "
        "SHOP@latest) / 不是策略文件，也不是版本（店铺@版本号）"
    )
