"""Small helpers shared by the demo generators: times, weighted picks, SKUs, JSON lines."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from xiaoer.domain.money import parse_yuan, yuan

__all__ = [
    "Dim",
    "dump_line",
    "hours",
    "iso",
    "jsonable",
    "minutes",
    "numbered",
    "option_dims",
    "pairs",
    "pick",
    "rand_time",
    "shopping_time",
    "skus_from_dims",
    "table",
    "yuan",
]


def iso(dt: datetime) -> str:
    """Format a tz-aware datetime as ISO 8601 with offset, whole seconds."""
    return dt.replace(microsecond=0).isoformat()


def jsonable(obj: Any) -> Any:
    """Turn nested dicts/lists holding datetimes into plain JSON values."""
    if isinstance(obj, datetime):
        return iso(obj)
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items() if not str(k).startswith("_")}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    return obj


def dump_line(obj: Any) -> str:
    """One JSONL line (no trailing newline), UTF-8 friendly, fixed key order."""
    return json.dumps(jsonable(obj), ensure_ascii=False)


def pick[T](rng: random.Random, items: Sequence[tuple[T, int]]) -> T:
    """Choose one value from (value, weight) pairs."""
    values = [v for v, _ in items]
    weights = [w for _, w in items]
    return rng.choices(values, weights=weights, k=1)[0]


def minutes(rng: random.Random, lo: float, hi: float) -> timedelta:
    """A random duration between lo and hi minutes (second resolution)."""
    return timedelta(seconds=rng.randint(int(lo * 60), int(hi * 60)))


def hours(rng: random.Random, lo: float, hi: float) -> timedelta:
    """A random duration between lo and hi hours (second resolution)."""
    return timedelta(seconds=rng.randint(int(lo * 3600), int(hi * 3600)))


def rand_time(rng: random.Random, lo: datetime, hi: datetime) -> datetime:
    """A random instant in [lo, hi] (hi if the window is empty)."""
    span = int((hi - lo).total_seconds())
    if span <= 0:
        return hi
    return lo + timedelta(seconds=rng.randint(0, span))


def shopping_time(
    rng: random.Random, anchor: datetime, max_age: timedelta, min_age: timedelta = timedelta(0)
) -> datetime:
    """A plausible shopping instant (more in the evening, few at night) within an age window."""
    lo, hi = anchor - max_age, anchor - min_age
    best = rand_time(rng, lo, hi)
    for _ in range(6):
        cand = rand_time(rng, lo, hi)
        weight = _HOUR_WEIGHT[cand.hour]
        if rng.random() * 10 < weight:
            return cand
        best = cand
    return best


# Relative activity by hour of day (0-10): quiet at night, peaks at noon and 20-23h.
_HOUR_WEIGHT = [3, 2, 1, 1, 1, 1, 1, 2, 4, 6, 7, 7, 9, 8, 7, 7, 7, 7, 7, 8, 10, 10, 10, 7]


def table(text: str) -> list[list[str]]:
    """Rows of a `|`-separated plain-text table; blank lines and `#` comments are skipped."""
    rows = []
    for line in text.strip().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            rows.append([field.strip() for field in line.split("|")])
    return rows


def pairs(text: str) -> dict[str, str]:
    """`k=v; k=v` -> {k: v} (order kept)."""
    result = {}
    for item in text.split(";"):
        if item.strip():
            key, _, value = item.partition("=")
            result[key.strip()] = value.strip()
    return result


Dim = tuple[str, list[tuple[str, str, int]]]
"""An option dimension: (option name, [(value, id code, price delta fen)])."""


def skus_from_dims(pid: str, base_fen: int, dims: list[Dim]) -> list[dict[str, Any]]:
    """Cartesian product of option dimensions into SKU dicts (stock filled in later)."""
    combos: list[tuple[dict[str, str], list[str], int]] = [({}, [], base_fen)]
    for name, values in dims:
        combos = [
            ({**opts, name: value}, [*codes, code], price + delta)
            for opts, codes, price in combos
            for value, code, delta in values
        ]
    return [
        {"id": "-".join([pid, *codes]), "options": opts, "price_fen": price, "stock": 0}
        for opts, codes, price in combos
    ]


Maker = Callable[[random.Random, str, list[str]], dict[str, Any]]
"""Builds one product dict from (rng, product id, table row)."""


def numbered(
    rng: random.Random, rows: Sequence[tuple[Maker, list[str], int]]
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Products P0001… from (maker, row, column of the popularity weight), in order, and their
    popularity weights by product id."""
    products: list[dict[str, Any]] = []
    weights: dict[str, int] = {}
    for n, (make, row, weight_at) in enumerate(rows, start=1):
        pid = f"P{n:04d}"
        products.append(make(rng, pid, row))
        weights[pid] = int(row[weight_at])
    return products, weights


def option_dims(text: str, code_of: Callable[[str], str] | None = None) -> list[Dim]:
    """A catalogue table's options column, `name=value@code:delta,…; name=…` (delta in 元, the
    first value's usually 0), as SKU dimensions with price deltas in fen; a value written
    without a code takes `code_of(value)`."""
    dims: list[Dim] = []
    for name, values in pairs(text).items():
        options = []
        for item in values.split(","):
            value, _, rest = item.partition("@")
            code, _, delta = rest.partition(":")
            if not code and code_of is not None:
                code = code_of(value)
            options.append((value, code, parse_yuan(delta or "0")))
        dims.append((name, options))
    return dims
