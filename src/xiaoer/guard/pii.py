"""Personal data out of logs and analytics: phone numbers, ID card and bank card numbers,
e-mail addresses and street addresses are masked. The merchant's own order data is never
touched; this runs on what leaves the system for operators."""

from __future__ import annotations

import logging
import re

RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)"), "[身份证]"),
    (re.compile(r"(?<!\d)\d{16,19}(?!\d)"), "[卡号]"),
    (re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)"), r"\1****\2"),
    (re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"), "[邮箱]"),
    (
        re.compile(
            r"[\u4e00-\u9fff]{1,12}(?:路|街|道|巷|弄|大道)\s?\d+\s?号"
            r"(?:[\u4e00-\u9fff\w]{0,12}?(?:\d+\s?(?:栋|幢|号楼|单元|室|楼)))*"
        ),
        "[地址]",
    ),
)


def redact(text: str) -> str:
    for pattern, mask in RULES:
        text = pattern.sub(mask, text)
    return text


class RedactingFilter(logging.Filter):
    """Masks personal data in every record that passes through the handler it is attached to."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


def configure_logging(level: int = logging.WARNING) -> None:
    """Log to stderr with personal data masked (the process's own log handler)."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
