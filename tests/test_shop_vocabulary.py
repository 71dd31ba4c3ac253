"""Product code names no demo shop's products, series, option values or categories.

What a word means in one shop comes from that shop's catalogue and `policy.yaml`
(`../shared/DESIGN.md`, "Understand, then decide: where words may live"). This test builds the
vocabulary of every demo shop — stride and volt, which the agent is tuned on, and orchard, which is
held out and only measured — from the catalogues and policies the demo generator ships, then scans
every string literal (docstrings included; comments are not code the model or shopper sees) of the
product code: everything under `src/xiaoer` except the `demo` generator and the `evals` harness.
"""

from __future__ import annotations

import ast
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
import yaml

from xiaoer.demo.generate import KITS

SRC = Path(__file__).resolve().parents[1] / "src" / "xiaoer"
NOT_PRODUCT = ("demo", "evals", "bench", "knowledge/bench.py")
"""Not product code: the generator, the eval harness, and `xiaoer bench` / `xiaoer loadtest`,
whose questions, shopper messages and synthetic catalogue are measurement inputs on the demo
shop (like the evals' scenarios), not words the agent decides with."""

ALLOWED_PHRASES = (
    # 手机号 is the shopper's phone number (PII, contact details), not the 手机 category.
    "手机号",
    "手机尾号",
)
"""Phrases that contain a shop word but mean something generic; removed before matching."""

GENERIC_UNITS = ("公斤", "升", "英寸", "g", "mm", "cm", "kg", "L")
"""Units of measure (SI and 市制) some demo option values are written in: every shop's."""

ENGLISH_IN_DOCSTRINGS = ("Run",)
"""Series words that are also English words, allowed in (English) docstrings only."""

ALLOWED_IN_FILE: dict[str, tuple[str, ...]] = {
    # The national trade-in subsidy (国补) rules: the categories, energy grades and caps are the
    # state's published table, the same for every shop that sells under it, not one shop's words.
    "policy/subsidy.py": ("空调", "冰箱", "洗衣机", "电视", "热水器", "手机", "平板", "平板电脑",
                          "手环", "电饭煲", "微波炉", "一级", "一级能效", "智能手表"),
    # The output guard checks that a figure with its unit comes from the records; 匹 (air
    # conditioner capacity) makes that check stricter for every shop and decides nothing. Left
    # until the unit list can come from the shop's catalogue (it needs the evidence to carry it).
    "guard/claims.py": ("匹",),
}  # fmt: skip
"""Shop words a file may name because the file holds a rule that is not any shop's."""

_CJK = re.compile(r"[\u3400-\u9fff]")
_ASCII_LETTER = re.compile(r"^[A-Za-z]$")
_NUMBER = re.compile(r"^[\d.]+$")
_UNIT = re.compile(r"^\d+(?:\.\d+)?([^\d\s@+×()（）.\-]+)$")
_PARTS = re.compile(r"[\s()（）·,，/]+")


@dataclass(frozen=True, slots=True)
class Word:
    text: str
    shop: str
    kind: str

    def pattern(self) -> str:
        """A CJK word matches anywhere; an ASCII word only as a whole word; a unit only after a
        number (or a regex quantifier standing for one)."""
        escaped = re.escape(self.text)
        if self.kind == "unit":
            # after a figure, a regex quantifier standing for one, or in a regex alternation
            return rf"(?:\d|\\d|[+*?)\]}}|])\s*{escaped}"
        if _CJK.search(self.text):
            return escaped
        if _ASCII_LETTER.match(self.text):
            # a one-letter value (size M) only as a word of Chinese text: "如 42、L", not the M
            # of "%H:%M", "Q4_K_M" or a regex's "\S"
            return rf"(?:^|(?<=[^\x00-\x7f])|(?<=\s)){escaped}(?=$|[^\x00-\x7f]|\s)"
        return rf"(?<![A-Za-z0-9]){escaped}(?![A-Za-z0-9])"


def _words(text: str) -> list[str]:
    """A catalogue string and its whitespace/bracket separated parts, numbers dropped."""
    parts = {text, *_PARTS.split(text)}
    return [p for p in parts if p and not _NUMBER.match(p)]


def _catalogue_words(shop: str, products: list[dict[str, Any]]) -> Iterator[Word]:
    for product in products:
        yield Word(product["category"], shop, "category")
        yield Word(product["brand"], shop, "brand")
        for part in _words(product["title"]):
            yield Word(part, shop, "product")
        options: dict[str, set[str]] = {}
        for sku in product["skus"]:
            for name, value in sku["options"].items():
                options.setdefault(name, set()).add(value)
        for name, values in options.items():
            for value in values:
                for part in _words(value):
                    yield Word(part, shop, "option value")
                if unit := _UNIT.match(value):
                    yield Word(unit.group(1), shop, "unit")
            if all(_NUMBER.match(v) for v in values):
                # Sizes stored as bare numbers are said with the option name's last character
                # ("42码" for 尺码 42).
                yield Word(name[-1], shop, "unit")
        chart = product["attributes"].get("尺码表")
        if isinstance(chart, dict):
            for row in chart.values():
                for column in row:
                    yield Word(column, shop, "size-chart column")


def _policy_words(shop: str, policy: dict[str, Any]) -> Iterator[Word]:
    returns = policy.get("returns") or {}
    for rule in returns.get("exclusions") or []:
        for key in ("categories", "tags", "title_words"):
            for word in rule.get(key) or []:
                yield Word(word, shop, f"policy exclusion {key}")
    for rule in policy.get("rules") or []:
        for key in ("categories", "tags", "title_words"):
            for word in (rule.get("when") or {}).get(key) or []:
                yield Word(word, shop, f"policy rule {key}")
    for word in (policy.get("installation") or {}).get("categories") or []:
        yield Word(word, shop, "installation category")
    for word in returns.get("pickup_fee") or {}:
        yield Word(word, shop, "pickup-fee category")
    for word in (policy.get("urge") or {}).get("promise_hours") or {}:
        if word != "default":
            yield Word(word, shop, "urge category")
    for region in ((policy.get("subsidy") or {}).get("regions") or {}).values():
        for word in region.get("extra_categories") or {}:
            yield Word(word, shop, "subsidy category")
    for programme in (policy.get("subsidy") or {}).get("programmes") or []:
        for word in [
            *(programme.get("categories") or []),
            *(programme.get("exclude_categories") or []),
        ]:
            yield Word(word, shop, "subsidy programme category")
        if programme.get("tier_by"):
            yield Word(programme["tier_by"], shop, "subsidy programme attribute")
        for tier in programme.get("tiers") or []:
            value = str(tier.get("value") or "")
            if value and not _NUMBER.match(value):  # a bare number is no word (as in _words)
                yield Word(value, shop, "subsidy programme tier value")


def shop_vocabulary() -> dict[str, Word]:
    """Every demo shop's words, by text (the first source seen is kept for the report)."""
    vocabulary: dict[str, Word] = {}
    for kit in KITS:
        shop = kit.shop["id"]
        products, _ = kit.build_products(random.Random(0))
        policy = yaml.safe_load(
            (files("xiaoer.demo") / f"policy_{shop}.yaml").read_text(encoding="utf-8")
        )
        for word in [*_catalogue_words(shop, products), *_policy_words(shop, policy)]:
            if not (word.kind == "unit" and word.text in GENERIC_UNITS):
                vocabulary.setdefault(word.text, word)
    return vocabulary


def product_files() -> list[Path]:
    def product(path: Path) -> bool:
        relative = path.relative_to(SRC)
        return not {relative.parts[0], relative.as_posix()} & set(NOT_PRODUCT)

    return sorted(path for path in SRC.rglob("*.py") if product(path))


def _literals(tree: ast.AST) -> Iterator[tuple[int, str, bool]]:
    """Every string literal (f-string pieces included): line, text, whether it is a docstring."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value, id(node) in docstrings


def scan(vocabulary: dict[str, Word]) -> list[str]:
    """Every `file:line: word (shop kind) in 'literal'` hit in product code."""
    patterns = [(word, re.compile(word.pattern())) for word in vocabulary.values()]
    hits: list[str] = []
    for path in product_files():
        relative = path.relative_to(SRC).as_posix()
        allowed = ALLOWED_IN_FILE.get(relative, ())
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for lineno, text, docstring in _literals(tree):
            cleaned = text
            for phrase in ALLOWED_PHRASES:
                cleaned = cleaned.replace(phrase, " " * len(phrase))
            for word, pattern in patterns:
                if word.text in allowed:
                    continue
                if docstring and word.text in ENGLISH_IN_DOCSTRINGS:
                    continue
                for match in pattern.finditer(cleaned):
                    line = lineno + cleaned[: match.start()].count("\n")
                    snippet = text[max(0, match.start() - 15) : match.end() + 15].replace("\n", " ")
                    hits.append(
                        f"src/xiaoer/{relative}:{line}: {word.text!r} "
                        f"({word.shop} {word.kind}) in {snippet!r}"
                    )
    return hits


def test_vocabulary_is_built_from_every_demo_shop() -> None:
    vocabulary = shop_vocabulary()
    shops = {word.shop for word in vocabulary.values()}
    assert shops == {kit.shop["id"] for kit in KITS}
    # The words the checks below rely on: a category, a series word, an option value and a unit.
    assert {"跑鞋", "空调", "Ultra", "Pro", "白色", "匹", "码", "脚长"} <= vocabulary.keys()


@pytest.mark.parametrize(
    ("word", "kind", "text", "hit"),
    [
        ("空调", "category", "为空调预约安装", True),
        ("匹", "unit", "1.5匹以上另计", True),
        ("匹", "unit", r"(\d+)\s?(?:瓦|匹)", True),
        ("匹", "unit", "和订单匹配", False),
        ("L", "option value", "尺码，如 42、L；没说就不填", True),
        ("L", "option value", "%H:%M and Q4_K_L", False),
        ("Pro", "product", "(?:Pro|Max)", True),
        ("Pro", "product", "Product", False),
    ],
)
def test_word_patterns(word: str, kind: str, text: str, hit: bool) -> None:
    assert bool(re.search(Word(word, "volt", kind).pattern(), text)) is hit


def test_product_code_names_no_demo_shop_word() -> None:
    hits = scan(shop_vocabulary())
    assert not hits, f"{len(hits)} demo-shop words in product code:\n" + "\n".join(hits)


def test_a_subsidy_programmes_words_are_the_shops() -> None:
    policy = {
        "subsidy": {
            "programmes": [
                {"categories": ["甲类"], "exclude_categories": ["乙类"], "tier_by": "档位",
                 "tiers": [{"value": "上等", "percent": 5}, {"value": 2, "percent": 3}]}
            ]
        }
    }  # fmt: skip
    words = {(w.text, w.kind) for w in _policy_words("x", policy)}
    assert words == {
        ("甲类", "subsidy programme category"),
        ("乙类", "subsidy programme category"),
        ("档位", "subsidy programme attribute"),
        ("上等", "subsidy programme tier value"),
    }
