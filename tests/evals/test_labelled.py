"""The labelled set for the understanding step (evals/labelled/understanding.yaml) is well-formed:
enough items per shop, valid codes only, and `answer` exactly where an action is pending."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml

from xiaoer.agent.understanding import ANSWERS, BY_CODE, MOODS, REASON_KINDS
from xiaoer.domain.understanding import Answer, Mood, ReasonKind, Want

PATH = Path(__file__).parents[2] / "evals" / "labelled" / "understanding.yaml"
SPLITS = {"stride": "dev", "volt": "dev", "orchard": "heldout"}
SOURCES = {"chat", "scenario", "issue", "written"}
KEYS = {"id", "shop", "split", "source", "text", "before", "pending", "want", "reason_kind"}
KEYS |= {"asks_human", "mood", "answer"}


def codes(alias: Any) -> set[str]:
    return set(get_args(alias.__value__))


@pytest.fixture(scope="module")
def items() -> list[dict[str, Any]]:
    return yaml.safe_load(PATH.read_text(encoding="utf-8"))


def test_the_code_sets_agree() -> None:
    assert codes(Want) == set(BY_CODE)
    assert codes(ReasonKind) == set(REASON_KINDS)
    assert codes(Mood) == set(MOODS)
    assert codes(Answer) == set(ANSWERS)


def test_size_and_shops(items: list[dict[str, Any]]) -> None:
    assert len(items) >= 300
    per_shop = Counter(item["shop"] for item in items)
    assert set(per_shop) == set(SPLITS)
    assert all(n >= 100 for n in per_shop.values()), per_shop


def test_ids_unique_and_named_after_the_shop(items: list[dict[str, Any]]) -> None:
    ids = [item["id"] for item in items]
    assert len(ids) == len(set(ids))
    for item in items:
        shop, _, number = item["id"].partition("-")
        assert shop == item["shop"] and len(number) == 4 and number.isdigit(), item["id"]


def test_split_matches_shop(items: list[dict[str, Any]]) -> None:
    for item in items:
        assert item["split"] == SPLITS[item["shop"]], item["id"]


def test_fields_and_codes(items: list[dict[str, Any]]) -> None:
    fields = {
        "want": codes(Want),
        "reason_kind": codes(ReasonKind),
        "mood": codes(Mood),
    }
    for item in items:
        assert set(item) <= KEYS, (item["id"], set(item) - KEYS)
        assert item["source"] in SOURCES, item["id"]
        assert isinstance(item["text"], str) and item["text"].strip(), item["id"]
        assert isinstance(item["asks_human"], bool), item["id"]
        for field, valid in fields.items():
            labels = item[field]
            assert isinstance(labels, list) and 1 <= len(labels) <= 3, (item["id"], field)
            assert len(set(labels)) == len(labels), (item["id"], field)
            assert set(labels) <= valid, (item["id"], field, labels)


def test_answer_iff_pending(items: list[dict[str, Any]]) -> None:
    for item in items:
        assert ("answer" in item) == ("pending" in item), item["id"]
        if "answer" in item:
            # a bare yes/no would load as a YAML boolean: the file quotes them
            assert item["answer"] in codes(Answer), (item["id"], item["answer"])
    pending = [item for item in items if "pending" in item]
    assert len(pending) >= 45
    assert {item["answer"] for item in pending} == codes(Answer)


def test_mix(items: list[dict[str, Any]]) -> None:
    assert sum(item["text"].isascii() for item in items) >= 15
    written = sum(item["source"] == "written" for item in items)
    assert written <= 0.2 * len(items), written
