from __future__ import annotations

import pytest

from xiaoer.domain.money import parse_yuan, yuan


@pytest.mark.parametrize(
    ("fen", "text"), [(29900, "¥299"), (29950, "¥299.50"), (5, "¥0.05"), (-100, "-¥1")]
)
def test_yuan(fen: int, text: str) -> None:
    assert yuan(fen) == text


@pytest.mark.parametrize(
    ("raw", "fen"),
    [("299", 29900), ("299.5", 29950), (300, 30000), ("¥1,299", 129900), ("300元", 30000)],
)
def test_parse_yuan(raw: str | int, fen: int) -> None:
    assert parse_yuan(raw) == fen


@pytest.mark.parametrize("raw", ["", "abc", "1.234", True, "1.2.3"])
def test_parse_yuan_rejects(raw: object) -> None:
    with pytest.raises(ValueError, match="not an amount"):
        parse_yuan(raw)  # type: ignore[arg-type]
