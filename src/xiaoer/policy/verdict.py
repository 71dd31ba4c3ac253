"""The outcome of one policy check."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    rule: str
    """Which rule decided, as `section.field` (e.g. `cancel.states`)."""
    reason: str
    """Plain Chinese, fit to show the shopper and the merchant."""
    needs_approval: bool = False
    """Allowed, but only after the merchant approves (e.g. above the refund limit)."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def allow(rule: str, reason: str = "符合店铺政策", *, approval: bool = False) -> Verdict:
    return Verdict(True, rule, reason, approval)


def deny(rule: str, reason: str) -> Verdict:
    return Verdict(False, rule, reason)
