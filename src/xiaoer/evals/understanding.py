"""The understanding step measured field by field on the labelled set (`evals/labelled/`).

Every reader (the model's one constrained call, today's keyword checks) reads every labelled
message; per field and split (`dev`: the tuned shops, `heldout`: only ever measured) the report
gives accuracy against the gold labels (a message may allow two values when it is honestly
ambiguous) and, per value, precision and recall. A field the keyword checks cannot read (what
the shopper wants) is reported as not read ("—"), not as wrong.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from xiaoer.agent.flows import SPECS as FLOW_SPECS
from xiaoer.agent.understanding import KeywordReader, Reader, Understanding
from xiaoer.domain.errors import BadInput
from xiaoer.policy.load import load_policy

DEFAULT_FILE = Path(__file__).resolve().parents[3] / "evals" / "labelled" / "understanding.yaml"
POLICIES = Path(__file__).resolve().parents[1] / "demo"
FIELDS = ("want", "reason_kind", "asks_human", "mood", "answer")
STARTS = "starts_flow"
"""Derived: whether the reading starts an after-sales flow (a change want, asked for their own
purchase); gold: whether the gold want is a change (yes, no, or both when the gold allows
either)."""
NOT_READ = {"keywords": {"want", STARTS}}
"""Fields a reader does not try to read."""


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    shop: str
    split: str
    text: str
    gold: dict[str, frozenset[str]]
    before: str = ""
    pending: str = ""


def load_items(path: Path = DEFAULT_FILE) -> list[Item]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise BadInput(f"cannot read the labelled set {path}: {exc}") from exc
    if not isinstance(raw, list):
        raise BadInput(f"{path}: expected a list of labelled messages")
    items = []
    for row in raw:
        gold: dict[str, frozenset[str]] = {}
        for name in FIELDS:
            value = row.get(name)
            if value is None:
                continue
            values = value if isinstance(value, list) else [value]
            gold[name] = frozenset(str(v).lower() for v in values)
        if "want" in gold:
            gold[STARTS] = frozenset("yes" if w in FLOW_SPECS else "no" for w in gold["want"])
        items.append(
            Item(str(row["id"]), str(row["shop"]), str(row["split"]), str(row["text"]), gold,
                 before=str(row.get("before") or ""), pending=str(row.get("pending") or ""))
        )  # fmt: skip
    return items


def _value(u: Understanding, name: str) -> str:
    if name == STARTS:
        return "yes" if u.want in FLOW_SPECS and u.acts else "no"
    v = getattr(u, name)
    return str(v).lower()


@dataclass
class Tally:
    right: int = 0
    n: int = 0
    said: Counter[str] = field(default_factory=Counter)
    """How often the reader wrote each value."""
    said_right: Counter[str] = field(default_factory=Counter)
    gold: Counter[str] = field(default_factory=Counter)
    """How often each value was among the gold labels."""
    found: Counter[str] = field(default_factory=Counter)
    """Gold values the reader wrote."""

    def add(self, said: str, gold: frozenset[str]) -> None:
        self.n += 1
        ok = said in gold
        self.right += ok
        self.said[said] += 1
        self.said_right[said] += ok
        for g in gold:
            self.gold[g] += 1
            self.found[g] += said == g

    def as_dict(self) -> dict[str, Any]:
        values = sorted(set(self.said) | set(self.gold))
        per_value = {
            v: {
                "precision": round(self.said_right[v] / self.said[v], 3) if self.said[v] else None,
                "recall": round(self.found[v] / self.gold[v], 3) if self.gold[v] else None,
                "said": self.said[v],
                "gold": self.gold[v],
            }
            for v in values
        }
        ps = [p["precision"] for p in per_value.values() if p["precision"] is not None]
        rs = [p["recall"] for p in per_value.values() if p["recall"] is not None]
        return {
            "accuracy": round(self.right / self.n, 3) if self.n else None,
            "n": self.n,
            "macro_precision": round(statistics.fmean(ps), 3) if ps else None,
            "macro_recall": round(statistics.fmean(rs), 3) if rs else None,
            "per_value": per_value,
        }


async def evaluate(
    readers: Sequence[Reader],
    items: Sequence[Item],
    *,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> dict[str, Any]:
    """Run every reader on every item; the report by reader, split and field."""
    quality_words = _quality_words({i.shop for i in items})
    report: dict[str, Any] = {"items": len(items), "readers": {}}
    total = len(items) * len(readers)
    done = 0
    tallies_of: dict[str, dict[tuple[str, str], Tally]] = {}
    for reader in readers:
        tallies = tallies_of.setdefault(reader.name, defaultdict(Tally))
        raw = (
            tallies_of.setdefault("model", defaultdict(Tally)) if reader.name == "cascade" else None
        )
        seconds: list[float] = []
        tokens_in: list[int] = []
        tokens_out: list[int] = []
        unread = 0
        misses: list[dict[str, Any]] = []
        said_by_item: dict[str, dict[str, str]] = {}
        for item in items:
            started = time.perf_counter()
            reading = await _read(reader, item, quality_words)
            seconds.append(time.perf_counter() - started)
            tokens_in.append(reading.tokens_in)
            tokens_out.append(reading.tokens_out)
            unread += not reading.ok
            said_by_item[item.id] = {n: _value(reading.understood, n) for n in item.gold}
            for name, gold in item.gold.items():
                if name in NOT_READ.get(reader.name, ()):
                    continue
                said = _value(reading.understood, name)
                for split in (item.split, "all"):
                    tallies[(split, name)].add(said, gold)
                    if raw is not None and reading.raw is not None:
                        raw[(split, name)].add(_value(reading.raw, name), gold)
                if said not in gold:
                    misses.append({"id": item.id, "field": name, "said": said,
                                   "gold": sorted(gold), "text": item.text})  # fmt: skip
            done += 1
            progress(done, total)
        if raw is not None:
            report["readers"]["model"] = {
                "fields": {f"{sp}/{n}": t.as_dict() for (sp, n), t in sorted(raw.items())},
                "seconds_p50": None,
                "note": "the model's own reading inside the cascade (same calls)",
            }
        report["readers"][reader.name] = {
            "fields": {
                f"{split}/{name}": t.as_dict() for (split, name), t in sorted(tallies.items())
            },
            "seconds_p50": round(statistics.median(seconds), 3) if seconds else None,
            "seconds_p95": round(_p95(seconds), 3) if seconds else None,
            "tokens_in_mean": round(statistics.fmean(tokens_in), 1) if tokens_in else None,
            "tokens_out_mean": round(statistics.fmean(tokens_out), 1) if tokens_out else None,
            "unreadable": unread,
            "misses": misses,
            "said": said_by_item,
        }
    return report


async def _read(reader: Reader, item: Item, quality_words: dict[str, list[str]]) -> Any:
    if isinstance(reader, KeywordReader):  # the keyword checks read each shop's own words
        reader = KeywordReader(quality_words.get(item.shop, reader.quality_words))
    return await reader.read(item.text, before=item.before, pending=item.pending)


def _quality_words(shops: set[str]) -> dict[str, list[str]]:
    words = {}
    for shop in shops:
        path = POLICIES / f"policy_{shop}.yaml"
        if path.exists():
            words[shop] = load_policy(path.read_text(encoding="utf-8")).returns.quality_words
    return words


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
