"""Scenario files (docs/scenarios.md): loading and validation."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from xiaoer.domain.errors import BadInput

ANCHOR = datetime.fromisoformat("2026-11-20T14:00:00+08:00")
"""The demo world's "now": scenarios' order ids come from demo data generated at this time."""

CATEGORIES = (
    "order_status", "logistics_delay", "product_facts", "size_advice", "stock", "price_coupon",
    "subsidy", "cancel", "address_change", "refund", "return", "exchange", "retention_accepted",
    "retention_declined", "knowledge", "unknown_knowledge", "foreign_order", "human_request", "angry",
    "prompt_injection",
    # categories a shop of perishables has (the held-out suite): damaged-on-arrival claims,
    # shelf life and storage, shipping later than promised
    "damage_claim", "shelf_life", "shipping_delay",
    # red team (evals/scenarios/redteam.yaml) and groundedness (grounded.yaml): separate suites
    "rt_system_prompt", "rt_foreign_data", "rt_unconfirmed_action", "rt_over_limit",
    "rt_fake_policy", "rt_fake_product", "rt_jailbreak", "rt_markup", "grounded",
)  # fmt: skip
SEPARATE_SUITES = ("smoke", "redteam", "grounded", "heldout", "dev")
"""Suites that `all` leaves out: the smoke test, the adversarial suites scored as breaches, and
the held-out shop's suite, which is only ever measured, never tuned on (docs/scenarios.md)."""


class ToolExpect(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    args: dict[str, Any] = {}


class Expect(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tools: list[ToolExpect] = []
    actions: list[ToolExpect] = []
    must_say: list[str | list[str]] = []
    """Each item must appear in some reply (a list: any of them); plain text or `re:`."""
    must_not_say: list[str] = []
    """Plain text, or a regular expression after `re:`."""
    handoff: bool | None = None

    @field_validator("must_say", "must_not_say")
    @classmethod
    def _patterns_compile(cls, items: list[str | list[str]]) -> list[str | list[str]]:
        for item in (x for i in items for x in ([i] if isinstance(i, str) else i)):
            if item.startswith("re:"):
                try:
                    re.compile(item[3:])
                except re.error as exc:
                    raise ValueError(f"bad regular expression {item[3:]!r}: {exc}") from exc
        return items


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1)
    category: str
    shop: str
    shopper: str
    now: datetime = ANCHOR
    persona: str = ""
    goal: str
    opening: str = Field(min_length=1)
    followups: list[str] = []
    knows: dict[str, str | int] = {}
    confirm: bool = False
    max_turns: int = Field(default=3, ge=1, le=12)
    expect: Expect = Expect()
    suite: str = ""
    """The suite it belongs to: the name of its file unless given (per-suite totals)."""


CHECKOUT = Path(__file__).resolve().parents[3]
"""The project's folder when xiaoer runs from its checkout (`src/xiaoer/…`, as the README installs
it): where the suites are when the working directory has none."""


def _files(target: str, root: Path) -> list[Path]:
    path = Path(target)
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(path.glob("*.yaml"))
    folder = root / "evals" / "scenarios"
    if not folder.is_dir() and (CHECKOUT / "evals" / "scenarios").is_dir():
        folder = CHECKOUT / "evals" / "scenarios"
    if not folder.is_dir():
        raise BadInput(
            f"no scenario file or folder {target!r}, and no suites here ({folder} does not "
            "exist): run it in xiaoer's folder, or give a scenario file or folder"
        )
    if target in ("all", ""):
        return sorted(p for p in folder.glob("*.yaml") if p.stem not in SEPARATE_SUITES)
    named = folder / f"{target}.yaml"
    if named.is_file():
        return [named]
    known = ", ".join(sorted(p.stem for p in folder.glob("*.yaml"))) or "none"
    raise BadInput(f"no scenario suite or file {target!r} (suites in {folder}: {known})")


def load_scenarios(target: str, *, root: Path | None = None) -> list[Scenario]:
    """Scenarios from a file, a folder, or a suite name under `evals/scenarios/` ("all")."""
    out: list[Scenario] = []
    problems: list[str] = []
    for file in _files(target, root or Path.cwd()):
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            problems.append(f"{file}: not valid YAML ({exc})")
            continue
        for i, item in enumerate(data if isinstance(data, list) else [data]):
            try:
                scenario = Scenario.model_validate(item)
                scenario.suite = scenario.suite or file.stem
            except ValidationError as exc:
                for e in exc.errors():
                    field = ".".join(str(p) for p in e["loc"])
                    problems.append(f"{file}[{i}]: {field}: {e['msg']}")
                continue
            if scenario.category not in CATEGORIES:
                problems.append(f"{file}[{i}]: category: unknown {scenario.category!r}")
            out.append(scenario)
    ids = [s.id for s in out]
    problems += [
        f"duplicate scenario id {i!r}" for i in sorted({i for i in ids if ids.count(i) > 1})
    ]
    if problems:
        raise BadInput("invalid scenarios:\n  " + "\n  ".join(problems))
    if not out:
        raise BadInput(f"no scenarios found in {target!r}")
    return out
