"""The τ-retail world: loading the db and dispatching the 16 tools by name."""

from __future__ import annotations

import inspect
import json
import types
import typing
from pathlib import Path
from typing import Any

from xiaoer.evals.tau.read_tools import ReadTools
from xiaoer.evals.tau.write_tools import WriteTools

TABLES = ("users", "orders", "products")


def load_db(folder: Path) -> dict[str, Any]:
    """`{"users", "orders", "products"}` read from the benchmark folder (plain JSON values)."""
    folder = Path(folder)
    db: dict[str, Any] = {}
    for table in TABLES:
        with (folder / f"{table}.json").open(encoding="utf-8") as fh:
            db[table] = json.load(fh)
    return db


def load_tasks(folder: Path, split: str = "train") -> list[dict[str, Any]]:
    """The task list of a split (only `train` ships with the data)."""
    with (Path(folder) / f"tasks_{split}.json").open(encoding="utf-8") as fh:
        return json.load(fh)


def fork_db(base: dict[str, Any]) -> dict[str, Any]:
    """Cheap copy of `base` for a `TauWorld`: new tables, records shared until written.

    Safe because `TauWorld` copies a record before its first write. Use `copy.deepcopy`
    instead if other code will mutate records in place.
    """
    return {table: dict(base[table]) for table in TABLES}


class TauWorld(ReadTools, WriteTools):
    """One db plus the 16 τ-retail tools; every tool returns a string, never raises."""

    def call(self, name: str, kwargs: dict[str, Any]) -> str:
        """Run tool `name` with `kwargs`; unknown tools or bad arguments give `Error: ...`."""
        if not isinstance(name, str) or name not in TOOL_NAMES:
            return f"Error: unknown tool {name!r}"
        if not isinstance(kwargs, dict):
            return "Error: arguments must be an object"
        method = getattr(self, name)
        problem = _check_args(method, kwargs)
        if problem:
            return f"Error: {problem}"
        try:
            return method(**kwargs)
        except Exception as exc:  # a tool bug must not crash an episode
            return f"Error: {type(exc).__name__}: {exc}"


def _tool_names() -> tuple[str, ...]:
    names = [
        name
        for cls in (ReadTools, WriteTools)
        for name, fn in vars(cls).items()
        if getattr(fn, "is_tool", False)
    ]
    return tuple(names)


TOOL_NAMES: tuple[str, ...] = _tool_names()


def _matches(value: Any, annotation: Any) -> bool:
    """Whether a JSON value fits a tool parameter annotation (`str` or `list[str]`)."""
    if annotation is str:
        return isinstance(value, str)
    if typing.get_origin(annotation) is list:
        (inner,) = typing.get_args(annotation)
        return isinstance(value, list) and all(_matches(v, inner) for v in value)
    if isinstance(annotation, types.UnionType):
        return any(_matches(value, a) for a in typing.get_args(annotation))
    return True


def _check_args(method: Any, kwargs: dict[str, Any]) -> str | None:
    """A message describing what is wrong with `kwargs`, or None when they fit."""
    signature = inspect.signature(method)
    try:
        signature.bind(**kwargs)
    except TypeError as exc:
        return f"bad arguments for {method.__name__}: {exc}"
    hints = typing.get_type_hints(method)
    for key, value in kwargs.items():
        if not _matches(value, hints.get(key, Any)):
            return f"argument {key!r} of {method.__name__} has the wrong type"
    return None
