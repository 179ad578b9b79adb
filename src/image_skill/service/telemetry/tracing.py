"""OpenTelemetry traces, exported over OTLP/HTTP only when an endpoint is configured.

Each API call is one SERVER span (a provider call inside it is a child span).
The span's trace id *is* the envelope's trace id: ``trace_<16 hex>`` becomes
the 128-bit OTel trace id ``0000000000000000<16 hex>`` (the envelope's 64
random bits in the low half, zeros in the high half, as 64-bit ids are
widened by Jaeger and Zipkin), so the id an agent reports finds the trace in
any backend. The span also carries ``image_skill.trace_id``.

The tracer provider belongs to the app (never the global one), so several
apps in one process do not share exporters. Incoming ``traceparent`` headers
are not joined: the service always starts a new trace, whose id it owns.
"""

from __future__ import annotations

import os
import random
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace.id_generator import IdGenerator

from image_skill import __version__
from image_skill.contract.envelope import API_VERSION
from image_skill.service.telemetry.record import RequestRecord, current

if TYPE_CHECKING:
    from opentelemetry.trace import Span

TRACES_PATH = "/v1/traces"


def otel_trace_id(envelope_trace_id: str) -> int | None:
    """The OTel trace id (as an int) that embeds an envelope trace id, if well formed."""
    digits = envelope_trace_id.removeprefix("trace_")
    if len(digits) != 16:
        return None
    try:
        value = int(digits, 16)
    except ValueError:
        return None
    return value or None


class EnvelopeIdGenerator(IdGenerator):
    """Trace ids taken from the current request's envelope trace id; span ids random."""

    def generate_span_id(self) -> int:
        """A random non-zero 64-bit span id."""
        return random.getrandbits(64) or 1

    def generate_trace_id(self) -> int:
        """The envelope trace id of the request being served (random outside a request)."""
        record = current.get()
        if record is not None:
            value = otel_trace_id(record.trace_id)
            if value is not None:
                return value
        return random.getrandbits(128) or 1

    def is_trace_id_random(self) -> bool:
        """The low 64 bits are random either way (W3C random flag)."""
        return True


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL for a base endpoint (``/v1/traces`` appended once)."""
    endpoint = endpoint.strip().rstrip("/")
    return endpoint if endpoint.endswith(TRACES_PATH) else endpoint + TRACES_PATH


def sdk_disabled() -> bool:
    """True when the standard ``OTEL_SDK_DISABLED`` switch is set."""
    return os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


class Tracing:
    """A tracer provider with a batching OTLP/HTTP exporter, private to one app."""

    def __init__(self, endpoint: str) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        self.url = traces_url(endpoint)
        resource = Resource.create({"service.name": "image-skill", "service.version": __version__})
        self.provider = TracerProvider(resource=resource, id_generator=EnvelopeIdGenerator())
        self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=self.url)))
        self.tracer = self.provider.get_tracer("image_skill.service", __version__)

    def start(self, record: RequestRecord) -> tuple[Span, object]:
        """Open the request's span (its trace id comes from ``record``) and make it current."""
        span = self.tracer.start_span(
            record.method,
            context=otel_context.Context(),  # always a new trace: never a caller's parent
            kind=trace.SpanKind.SERVER,
            attributes={
                "http.request.method": record.method,
                "image_skill.trace_id": record.trace_id,
            },
        )
        token = otel_context.attach(trace.set_span_in_context(span))
        return span, token

    @staticmethod
    def deactivate(token: object) -> None:
        """Undo ``start``'s making the span current."""
        otel_context.detach(token)  # type: ignore[arg-type]

    def finish(self, span: Span, record: RequestRecord) -> None:
        """Name, annotate and end the request's span."""
        span.update_name(f"{record.method} {record.endpoint}")
        attributes: dict[str, Any] = {
            "http.route": record.endpoint,
            "image_skill.trace_id": record.trace_id,
            "http.response.status_code": record.http_status,
            "image_skill.api_version": API_VERSION,
            "image_skill.cli.version": record.cli_version,
            "image_skill.cli.command": record.cli_command,
            "image_skill.actor_type": record.actor_type,
            "image_skill.claim_state": record.claim_state,
            "image_skill.capability_id": record.capability_id,
            "image_skill.job_id": record.job_id,
            "image_skill.credits": record.credits,
            "image_skill.outputs": record.outputs,
            "image_skill.replayed": record.replayed,
            "error.type": record.error_code,
        }
        span.set_attributes({key: value for key, value in attributes.items() if value is not None})
        if record.http_status >= 500:
            span.set_status(trace.Status(trace.StatusCode.ERROR, record.error_code))
        span.end()

    def child(self, name: str, attributes: dict[str, str]) -> Span:
        """A span under the current request's span."""
        return self.tracer.start_span(name, attributes=attributes)

    def flush(self, timeout_millis: int = 10_000) -> bool:
        """Export every finished span now."""
        return bool(self.provider.force_flush(timeout_millis))

    def shutdown(self) -> None:
        """Flush and stop the exporter."""
        self.provider.shutdown()
