"""Read a policy YAML; every problem is reported with the field it is about."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import yaml
from pydantic import ValidationError

from xiaoer.domain.errors import BadInput
from xiaoer.policy.lines import compose, line_of
from xiaoer.policy.schema import ShopPolicy


@dataclass(frozen=True, slots=True)
class PolicyProblem:
    line: int
    """1-based YAML line (of a field: where it, or the mapping it is missing from, is written);
    0 when unknown (data that did not come from a file)."""
    field: str
    message: str


def check_policy(text: str) -> tuple[ShopPolicy | None, list[PolicyProblem]]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 0
        return None, [PolicyProblem(line, "", f"not valid YAML ({getattr(exc, 'problem', exc)})")]
    policy, problems = check_policy_data(data)
    if problems:
        root = compose(text)
        problems = [replace(p, line=line_of(root, p.field)) for p in problems]
    return policy, problems


def check_policy_data(data: Any) -> tuple[ShopPolicy | None, list[PolicyProblem]]:
    if data is None:
        return ShopPolicy(), []
    if not isinstance(data, dict):
        return None, [
            PolicyProblem(0, "", f"must be a mapping of sections, not {type(data).__name__}")
        ]
    try:
        return ShopPolicy.model_validate(data), []
    except ValidationError as exc:
        return None, [
            PolicyProblem(0, ".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors()
        ]


def _raise(problems: list[PolicyProblem], source: str) -> None:
    lines = []
    for p in problems:
        where = f"{source}:{p.line}" if p.line else source
        field = p.field or ("" if p.line else "(top)")
        lines.append(f"{where}: {field}: {p.message}" if field else f"{where}: {p.message}")
    raise BadInput("invalid shop policy:\n" + "\n".join(lines))


def load_policy(text: str, *, source: str = "policy.yaml") -> ShopPolicy:
    policy, problems = check_policy(text)
    if policy is None:
        _raise(problems, source)
    assert policy is not None
    return policy


def parse_policy(data: Any, *, source: str = "policy") -> ShopPolicy:
    policy, problems = check_policy_data(data)
    if policy is None:
        _raise(problems, source)
    assert policy is not None
    return policy


def default_policy() -> ShopPolicy:
    """For shops that bring no policy: every section's conservative default."""
    return ShopPolicy()
