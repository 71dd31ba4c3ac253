"""Spans of a turn (OpenTelemetry), for every layer that does part of one: the turn
(`agent/bounded.py`), each model call (`llm/gate.py`), each tool (`tools/registry.py`) and each
guard check (`guard/output.py`).

Only the OpenTelemetry API is used here: without a configured provider every span is a no-op.
`observability/tracing.py` configures one when `XIAOER_OTEL_ENDPOINT` is set. Spans carry ids,
names, counts and timings — never a shopper's words, a reply or a tool's result."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

__all__ = ["span"]

_tracer = trace.get_tracer("xiaoer")


@contextmanager
def span(name: str, **attributes: Any) -> Iterator[Span]:
    """A child of the current span (or a root); an exception marks it as an error."""
    attrs = {k: v for k, v in attributes.items() if v is not None}
    with _tracer.start_as_current_span(name, attributes=attrs, record_exception=False,
                                       set_status_on_exception=False) as current:  # fmt: skip
        try:
            yield current
        except BaseException as exc:
            current.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise
