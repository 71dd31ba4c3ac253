"""Scoring one τ-retail episode: db state check plus required-output check."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from xiaoer.evals.tau.world import TauWorld, fork_db

SKIPPED_IN_REFERENCE = frozenset({"transfer_to_human_agents"})


@dataclass(frozen=True)
class TaskScore:
    """Result of one episode: reward 1 iff `passed`."""

    task_index: int
    passed: bool
    db_match: bool
    outputs_ok: bool
    reference_errors: tuple[str, ...] = ()


def canonical_json(value: Any) -> str:
    """Canonical JSON: dict keys sorted, lists in order, compact separators."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def db_hash(db: dict[str, Any]) -> str:
    """SHA-256 hex digest of the canonical JSON of the whole db."""
    return hashlib.sha256(canonical_json(db).encode("utf-8")).hexdigest()


def same_db(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """`db_hash(a) == db_hash(b)`, computed fast for forks of one base db.

    Records shared by identity serialise identically, so only records that differ by
    identity are serialised and compared.
    """
    if a is b:
        return True
    if a.keys() != b.keys():
        return False
    for name, table_a in a.items():
        table_b = b[name]
        if table_a is table_b:
            continue
        if not isinstance(table_a, dict) or not isinstance(table_b, dict):
            if canonical_json(table_a) != canonical_json(table_b):
                return False
            continue
        if table_a.keys() != table_b.keys():
            return False
        for key, rec_a in table_a.items():
            rec_b = table_b[key]
            if rec_a is not rec_b and canonical_json(rec_a) != canonical_json(rec_b):
                return False
    return True


def outputs_said(outputs: Iterable[str], said: Iterable[str]) -> bool:
    """Every required output occurs (case-insensitive) in one message with commas removed."""
    messages = [m.replace(",", "").lower() for m in said]
    return all(any(out.lower() in m for m in messages) for out in outputs)


def reference_db(task: dict[str, Any], base_db: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Apply the task's reference actions to a copy of `base_db`; return it and the errors."""
    world = TauWorld(fork_db(base_db))
    errors: list[str] = []
    for step, action in enumerate(task.get("actions", [])):
        if action["name"] in SKIPPED_IN_REFERENCE:
            continue
        result = world.call(action["name"], action.get("kwargs", {}))
        if result.startswith("Error:"):
            errors.append(f"{step}:{action['name']}: {result}")
    return world.db, errors


def score_task(
    task: dict[str, Any],
    final_db: dict[str, Any],
    said: list[str],
    base_db: dict[str, Any],
    *,
    task_index: int = -1,
) -> TaskScore:
    """Score an episode that left `final_db` behind and said `said` to the user."""
    expected, errors = reference_db(task, base_db)
    db_match = same_db(final_db, expected)
    outputs_ok = outputs_said(task.get("outputs", []), said)
    return TaskScore(
        task_index=task_index,
        passed=db_match and outputs_ok,
        db_match=db_match,
        outputs_ok=outputs_ok,
        reference_errors=tuple(errors),
    )
