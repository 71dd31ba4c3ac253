"""Money is an integer number of 分 (fen, 1/100 yuan). Never a float."""

from __future__ import annotations


def yuan(fen: int) -> str:
    """Format fen as a yuan amount for people and prompts: 29900 -> "¥299", 29950 -> "¥299.50"."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    if cents == 0:
        return f"{sign}¥{whole}"
    return f"{sign}¥{whole}.{cents:02d}"


def parse_yuan(text: str | int | float) -> int:
    """Parse a yuan amount ("299", "299.5", 299.5, "¥1,299") into fen; raise ValueError if bad."""
    if isinstance(text, bool):
        raise ValueError(f"not an amount: {text!r}")
    if isinstance(text, int):
        return text * 100
    raw = str(text).strip().replace("¥", "").replace("￥", "").replace(",", "").replace("元", "")
    if not raw:
        raise ValueError(f"not an amount: {text!r}")
    negative = raw.startswith("-")
    raw = raw.lstrip("-")
    whole, _, frac = raw.partition(".")
    if not whole.isdigit() or (frac and not frac.isdigit()) or len(frac) > 2:
        raise ValueError(f"not an amount: {text!r}")
    fen = int(whole) * 100 + int((frac + "00")[:2])
    return -fen if negative else fen
