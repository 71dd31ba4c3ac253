"""A form of fixed choices, filled in by the model in a few steps instead of one per token.

A JSON-schema grammar makes the embedded model write every token of a call itself: the braces,
the key names, and the rest of a value once its first token has settled it. Each is one
decoding step (≈40 ms on 2 cores), and the understanding step's form is ≈41 tokens, of which
about one in eight is a decision. When every field of a call is a choice among fixed strings,
everything that is not a decision is known in advance: it is appended to the context in the
batch that precedes the next decision (prompt speed), and the model is asked only where the
choices part ways, as the argmax of its logits over the tokens that continue some choice —
what greedy decoding under the grammar picks among the same tokenisations. The text written
is the same JSON. Measured on 60 labelled messages: p50 2.93 s → 1.28 s a reading.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

type Fields = list[tuple[str, list[str]]]


def choice_fields(parameters: Mapping[str, object]) -> Fields | None:
    """The form's fields in order, with their choices — or None when the schema is not a form
    of fixed choices (a free-text or optional field needs the grammar)."""
    props = parameters.get("properties")
    if not isinstance(props, dict) or not props:
        return None
    required = parameters.get("required")
    if not isinstance(required, list) or set(required) != set(props):
        return None
    fields: Fields = []
    for key, prop in props.items():
        enum = prop.get("enum") if isinstance(prop, dict) else None
        if not isinstance(enum, list) or not enum or set(prop) - {"enum", "type", "description"}:
            return None
        if not all(isinstance(v, str) and v and json.dumps(v, ensure_ascii=False)[1:-1] == v
                   for v in enum):  # fmt: skip
            return None  # a value that JSON escapes would not read back token for token
        fields.append((key, list(dict.fromkeys(enum))))
    return fields


class Model(Protocol):
    """What filling in needs from a model: its tokenizer, a context to append to, and its next-
    token logits after what was appended."""

    def tokenize(self, text: str) -> list[int]: ...

    def append(self, tokens: Sequence[int]) -> None:
        """Evaluate `tokens` after the context (one batch)."""

    def best(self, candidates: Sequence[int]) -> int:
        """The candidate the model scores highest as the next token."""


@dataclass
class _Node:
    children: dict[int, _Node] = field(default_factory=dict)
    ends: bool = False


def _trie(options: Sequence[Sequence[int]]) -> _Node:
    root = _Node()
    for tokens in options:
        node = root
        for t in tokens:
            node = node.children.setdefault(t, _Node())
        node.ends = True
    return root


@dataclass(frozen=True, slots=True)
class Filled:
    arguments: dict[str, str]
    text: str
    """The call as the model would write it: `{"name": …, "arguments": {…}}`."""
    tokens: int
    """Tokens written (fixed text and decisions)."""
    decisions: int
    """Times the model was asked: the only steps that waited on its logits."""


def fill(
    model: Model, name: str, fields: Fields, *, stop: Callable[[], bool] = lambda: False
) -> Filled:
    """Fill in `fields` greedily. The context must end where the call begins."""
    dump = lambda v: json.dumps(v, ensure_ascii=False)  # noqa: E731
    # the fixed text before each field's value, and after the last one
    fixed = [
        model.tokenize(("{" + f'"name": {dump(name)}, "arguments": {{' if i == 0 else '", ')
                       + f'{dump(key)}: "')
        for i, (key, _) in enumerate(fields)
    ] + [model.tokenize('"}}')]  # fmt: skip
    pending: list[int] = []
    written = decisions = 0
    arguments: dict[str, str] = {}
    for i, (key, options) in enumerate(fields):
        pending += fixed[i]
        written += len(fixed[i])
        after = fixed[i + 1]
        token_lists = [model.tokenize(v) for v in options]
        node, chosen = _trie(token_lists), []
        while node.children:
            candidates = list(node.children)
            if node.ends:
                candidates.append(after[0])  # the option may end here
            if len(candidates) == 1:
                pick = candidates[0]
            else:
                if stop():
                    raise InterruptedError("filling in was stopped")
                model.append(pending)
                pending = []
                pick = model.best(candidates)
                decisions += 1
            if pick not in node.children:
                break  # it ended here
            chosen.append(pick)
            pending.append(pick)
            node = node.children[pick]
        written += len(chosen)
        arguments[key] = options[token_lists.index(chosen)]
    written += len(fixed[-1])
    text = dump({"name": name, "arguments": arguments})
    return Filled(arguments, text, written, decisions)
