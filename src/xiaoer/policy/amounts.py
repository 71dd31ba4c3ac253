"""Field types every policy section shares: amounts written in 元 and held as 分."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

from xiaoer.domain.money import parse_yuan, yuan


def _fen(value: object) -> int:
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        fen = parse_yuan(value)
        if fen < 0:
            raise ValueError("must not be negative")
        return fen
    raise ValueError(f"not an amount in 元: {value!r}")


Money = Annotated[
    int, BeforeValidator(_fen), PlainSerializer(lambda fen: yuan(fen).lstrip("¥"), return_type=str)
]
"""An amount written in 元 ("20", 20, "19.9"), held as 分, written back as 元 (round-trips)."""
