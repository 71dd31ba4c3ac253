"""OpenTelemetry traces of each turn, exported over OTLP/HTTP when `XIAOER_OTEL_ENDPOINT` is
set (e.g. `http://collector:4318/v1/traces`): one `xiaoer.turn` span per shopper message with
its `xiaoer.llm` (model calls, time in line for a model slot, tokens), `xiaoer.tool` and
`xiaoer.guard` children (`domain/tracing.py` makes them). Off by default: no provider, no-op
spans. The API and `xiaoer worker` call `setup_tracing` at start and flush the provider at exit
(spans are sent in batches, every second)."""

from __future__ import annotations

import logging

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from xiaoer.config import Settings

__all__ = ["setup_tracing"]

log = logging.getLogger(__name__)


def setup_tracing(settings: Settings) -> TracerProvider | None:
    """The process's tracer provider, exporting to the configured endpoint; None when tracing is
    off. Once per process: a provider set before (another app in the same process) is kept."""
    if not settings.otel_endpoint:
        return None
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    provider = TracerProvider(resource=Resource.create({"service.name": settings.otel_service}))
    exporter = OTLPSpanExporter(endpoint=settings.otel_endpoint, timeout=5)
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=1000))
    trace.set_tracer_provider(provider)
    log.info("OpenTelemetry traces to %s", settings.otel_endpoint)
    return provider
