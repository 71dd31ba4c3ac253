"""Tool arguments as pydantic models: the schema the model reads in its prompt is generated from
the model, and a call's arguments are validated against it before the tool runs.

The generated schema is the one the product's quality was measured with (pinned byte for byte by
tests/tools/test_tool_schemas.py): per property only `type`, `enum` and `description`, in that
order; no titles, defaults, `$ref`s or `anyOf` with null (the prompt must not grow, and that an
argument may be left out is what `required` says).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.json_schema import SkipJsonSchema

_ASKED = "x-asked"
"""Marks a field the schema lists as required although a missing value is not an error (`asked`)."""
_SHOWN = ("type", "enum", "description")
_DROPPED = {"title", "default", _ASKED}
_TYPE_NAMES = {"string": "文字", "number": "数字", "integer": "整数", "boolean": "true 或 false"}

RETRY = "改好后再调用一次；顾客没说过的先问顾客，不要编。"
"""The instruction closing every bad-argument result (a secret: a reply must not repeat it)."""


class ToolArgs(BaseModel):
    """The arguments of one tool. Tolerant where the small model is sloppy in known ways: a
    number where text is expected is taken as its text, null is the same as leaving the
    argument out (so is empty text), spaces around text are trimmed and unknown keys are
    ignored.

    A field typed `SkipJsonSchema[...]` is set by code only (the arguments the action desk
    stores to run the tool again, e.g. `skip_retention`): it is not in the schema and is dropped
    from the model's calls (`hidden`)."""

    model_config = ConfigDict(
        extra="ignore", frozen=True, coerce_numbers_to_str=True, str_strip_whitespace=True
    )

    @model_validator(mode="before")
    @classmethod
    def _blank_is_absent(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {
                k: v
                for k, v in data.items()
                if v is not None and not (isinstance(v, str) and not v.strip())
            }
        return data

    @classmethod
    def hidden(cls) -> frozenset[str]:
        """The fields only code sets."""
        return frozenset(
            name
            for name, f in cls.model_fields.items()
            if any(isinstance(m, SkipJsonSchema) for m in f.metadata)
        )


def asked(description: str) -> Any:
    """A text field the schema marks required whose absence the tool answers itself, so a
    missing value is "" rather than a retry: no order id → the shopper's recent orders and
    "which one?" (measured: told to ask, the model made a number up); no question → the
    shopper's last message; no handoff reason → a default one."""
    return Field("", description=description, json_schema_extra={_ASKED: True})


def parameters(args: type[ToolArgs]) -> dict[str, Any]:
    """The JSON schema of a tool's arguments, as the model reads it."""
    raw = args.model_json_schema()
    defs = raw.get("$defs", {})
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, prop in raw.get("properties", {}).items():
        if "anyOf" in prop:  # X | None: shown as X
            shown = [p for p in prop["anyOf"] if p.get("type") != "null"]
            if len(shown) == 1:
                prop = {**shown[0], **{k: v for k, v in prop.items() if k != "anyOf"}}
        if "$ref" in prop:  # an enum class: its values (not its docstring)
            enum = defs[prop["$ref"].rsplit("/", 1)[-1]]
            prop = {**{k: enum[k] for k in ("type", "enum") if k in enum}, **prop}
        first = {k: prop[k] for k in _SHOWN if k in prop}
        rest = {k: v for k, v in prop.items() if k not in (*_SHOWN, *_DROPPED, "$ref")}
        properties[name] = first | rest
        if name in raw.get("required", []) or prop.get(_ASKED):
            required.append(name)
    return {"type": "object", "properties": properties, "required": required}


def retry_hint(args: type[ToolArgs], error: ValidationError) -> tuple[str, list[str]]:
    """What the model is told about bad arguments — which argument, what it should be — and
    the names of the arguments at fault."""
    schema = parameters(args)
    props, required = schema["properties"], schema["required"]
    parts: list[str] = []
    names: list[str] = []
    for e in error.errors():
        name = str(e["loc"][0]) if e["loc"] else ""
        if name in names:
            continue
        names.append(name)
        prop = props.get(name, {})
        if not name:
            parts.append("参数要按函数签名填写")
        elif e["type"] == "missing":
            about = prop.get("description")
            parts.append(f"{name} 必须填" + (f"（{about}）" if about else ""))
        elif "enum" in prop:
            values = "、".join(str(v) for v in prop["enum"])
            optional = "" if name in required else "，不需要就不填"
            parts.append(f"{name} 只能是 {values} 之一{optional}")
        else:
            kind = _TYPE_NAMES.get(str(prop.get("type")), "正确的值")
            given = str(e.get("input"))[:20]
            parts.append(f"{name} 要填{kind}，收到的是“{given}”")
    return f"参数不对：{'；'.join(parts)}。{RETRY}", names
