"""OpenTelemetry setup and the trace context that travels in event metadata and NATS headers."""

from __future__ import annotations

import os

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter


def configure_tracing(service: str, console: bool = False) -> TracerProvider:
    """Export spans over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set, else to the console
    when asked (development), else nowhere. Returns the provider so callers can flush it."""
    existing = trace.get_tracer_provider()
    if isinstance(existing, TracerProvider):
        return existing  # the global provider can be set once per process
    provider = TracerProvider(resource=Resource.create({"service.name": f"figsync-{service}"}))
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    ):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    elif console:
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span, to store in an event's metadata."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


def context_from_traceparent(traceparent: str | None) -> otel_context.Context:
    """A context whose parent is the span named by a traceparent (empty when absent)."""
    return propagate.extract({"traceparent": traceparent} if traceparent else {})


def context_from_headers(headers: dict[str, str] | None) -> otel_context.Context:
    return propagate.extract(dict(headers or {}))
