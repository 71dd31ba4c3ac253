"""A form of fixed choices is filled in with one model step per decision: the fixed text goes
in as batches, the model is asked only where the choices part ways."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from xiaoer.llm.form import choice_fields, fill


class CharModel:
    """One token per character; prefers the candidate whose character comes first in
    `likes`, and records what it was given and asked."""

    def __init__(self, likes: str) -> None:
        self.likes = likes
        self.context = ""
        self.asked: list[list[str]] = []

    def tokenize(self, text: str) -> list[int]:
        return [ord(c) for c in text]

    def append(self, tokens: Sequence[int]) -> None:
        self.context += "".join(map(chr, tokens))

    def best(self, candidates: Sequence[int]) -> int:
        options = [chr(t) for t in candidates]
        self.asked.append(options)
        rank = {c: i for i, c in enumerate(self.likes)}
        return min(candidates, key=lambda t: rank.get(chr(t), len(rank)))


FORM = {
    "type": "object",
    "properties": {"事": {"enum": ["退货", "退款", "物流"]}, "人工": {"enum": ["否", "是"]}},
    "required": ["事", "人工"],
}


def test_only_where_the_choices_part_ways_is_the_model_asked() -> None:
    model = CharModel(likes="退款是")
    filled = fill(model, "understand", choice_fields(FORM) or [])
    assert filled.arguments == {"事": "退款", "人工": "是"}
    assert json.loads(filled.text) == {"name": "understand", "arguments": filled.arguments}
    # 退 or 物; then 货 or 款 (退 itself is settled); then 否 or 是 — three questions, no more
    assert model.asked == [["退", "物"], ["货", "款"], ["否", "是"]]
    assert filled.decisions == 3 and filled.tokens == len(filled.text)
    # the fixed text went in with the decisions, as the model would have written it
    assert model.context == '{"name": "understand", "arguments": {"事": "退款", "人工": "'


def test_a_choice_that_is_the_start_of_another_can_end_there() -> None:
    form = {"properties": {"k": {"enum": ["不", "不要"]}}, "required": ["k"]}
    short = CharModel(likes='"')  # the text after the value: the choice ends
    assert fill(short, "f", choice_fields(form) or []).arguments == {"k": "不"}
    long = CharModel(likes="要")
    assert fill(long, "f", choice_fields(form) or []).arguments == {"k": "不要"}


@pytest.mark.parametrize(
    "schema",
    [
        {"properties": {"k": {"type": "string"}}, "required": ["k"]},  # free text
        {"properties": {"k": {"enum": ["a", "b"]}}, "required": []},  # optional
        {"properties": {"k": {"enum": ["a", 1]}}, "required": ["k"]},  # not a string
        {"properties": {"k": {"enum": ['say "hi"', "b"]}}, "required": ["k"]},  # escaped in JSON
        {"properties": {"k": {"enum": ["a"], "maxLength": 3}}, "required": ["k"]},
        {"properties": {}, "required": []},
    ],
)
def test_anything_but_required_fixed_choices_is_left_to_the_grammar(schema: dict) -> None:
    assert choice_fields({"type": "object", **schema}) is None


def test_a_stop_request_ends_filling_in_before_the_next_step() -> None:
    with pytest.raises(InterruptedError):
        fill(CharModel("退"), "understand", choice_fields(FORM) or [], stop=lambda: True)
