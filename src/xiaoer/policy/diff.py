"""What changed between two policies, field by field.

Both sides are compared as `xiaoer policy show` prints them (every default filled in, amounts
in 元), so a field left out of one file and written with its default value in the other is no
change. Lists of words are compared as sets (items added, items removed); lists of entries are
matched by `id` where entries have one (coupons), else identical entries pair up and the rest
are compared by position (retention offers, exclusions); an order change alone is reported,
because some lists are read in order (the first retention offer that fits wins).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from xiaoer.policy.schema import ShopPolicy

type Kind = Literal["changed", "added", "removed", "reordered"]
_LABEL: dict[str, str] = {
    "added": "新增 / added",
    "removed": "删除 / removed",
    "reordered": "顺序变化 / reordered",
}


@dataclass(frozen=True, slots=True)
class FieldChange:
    path: str
    """Dotted, list entries as `[index]` or `[id]`: `retention.offers[0].amount`."""
    kind: Kind
    old: Any = None
    new: Any = None

    def line(self) -> str:
        if self.kind == "changed":
            return f"{self.path}: {show(self.old)} → {show(self.new)}"
        if self.kind == "reordered":
            return f"{self.path}: {_LABEL['reordered']} {show(self.old)} → {show(self.new)}"
        value = self.new if self.kind == "added" else self.old
        return f"{self.path}: {_LABEL[self.kind]} {show(value)}"

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "change": self.kind, "old": self.old, "new": self.new}


def show(value: Any) -> str:
    """A value as one short line: scalars as written, entries in YAML flow style."""
    if value is None:
        return "（未设置 / unset）"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        flow = yaml.safe_dump(
            value, allow_unicode=True, default_flow_style=True, sort_keys=False, width=10**6
        )
        return flow.strip()
    return '""' if value == "" else str(value)


def diff_policies(old: ShopPolicy, new: ShopPolicy) -> list[FieldChange]:
    return list(_diff("", old.model_dump(mode="json"), new.model_dump(mode="json")))


def _join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def _diff(path: str, a: Any, b: Any) -> Iterator[FieldChange]:
    if a == b:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for key in [*a, *(k for k in b if k not in a)]:
            sub = _join(path, key)
            if key not in b:
                yield FieldChange(sub, "removed", old=a[key])
            elif key not in a:
                yield FieldChange(sub, "added", new=b[key])
            else:
                yield from _diff(sub, a[key], b[key])
    elif isinstance(a, list) and isinstance(b, list):
        yield from _diff_list(path, a, b)
    else:
        yield FieldChange(path, "changed", a, b)


def _diff_list(path: str, a: list[Any], b: list[Any]) -> Iterator[FieldChange]:
    if all(isinstance(x, dict) and "id" in x for x in [*a, *b]):
        yield from _diff_keyed(path, a, b)
        return
    removed = [x for x in a if x not in b]
    added = [x for x in b if x not in a]
    nested = any(isinstance(x, (dict, list)) for x in [*removed, *added])
    paired = min(len(removed), len(added)) if nested else 0
    for x, y in zip(removed[:paired], added[:paired], strict=True):
        yield from _diff(f"{path}[{b.index(y)}]", x, y)
    item = (lambda i: f"{path}[{i}]") if nested else (lambda _i: path)
    for x in removed[paired:]:
        yield FieldChange(item(a.index(x)), "removed", old=x)
    for y in added[paired:]:
        yield FieldChange(item(b.index(y)), "added", new=y)
    if not removed and not added:
        yield FieldChange(path, "reordered", a, b)


def _diff_keyed(
    path: str, a: list[dict[str, Any]], b: list[dict[str, Any]]
) -> Iterator[FieldChange]:
    old = {x["id"]: x for x in a}
    new = {x["id"]: x for x in b}
    for key, x in old.items():
        if key not in new:
            yield FieldChange(f"{path}[{key}]", "removed", old=x)
        else:
            yield from _diff(f"{path}[{key}]", x, new[key])
    for key, y in new.items():
        if key not in old:
            yield FieldChange(f"{path}[{key}]", "added", new=y)
    kept = [k for k in old if k in new]
    if kept != [k for k in new if k in old]:
        yield FieldChange(path, "reordered", list(old), list(new))


def render(changes: list[FieldChange], old_name: str, new_name: str) -> list[str]:
    """The diff as lines for a merchant: a header, one line per change, a count."""
    if not changes:
        return [f"没有变化 / no changes: {old_name} → {new_name}"]
    return [
        f"策略差异 / policy diff: {old_name} → {new_name}",
        *(f"  {c.line()}" for c in changes),
        f"共 {len(changes)} 处变化 / {len(changes)} change(s)",
    ]
