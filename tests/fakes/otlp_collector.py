"""A local fake OpenTelemetry collector speaking OTLP/HTTP (protobuf), for tests.

``FakeCollector`` is a stdlib HTTP server on a loopback port (a background
thread) that accepts ``POST /v1/traces`` with an
``ExportTraceServiceRequest`` protobuf body (gzip or not), decodes it with the
official ``opentelemetry-proto`` classes and keeps every span. Anything else
answers 404. ``wait_for`` polls for spans because exporters batch.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from .loopback import serving


@dataclass
class CollectedSpan:
    """One received span, flattened: ids as hex, attributes as plain values."""

    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int
    attributes: dict[str, Any]
    resource: dict[str, Any]
    status_code: int
    raw: bytes  # the serialized span, for scanning


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    return None if kind is None else getattr(any_value, kind)


def _attributes(items: Any) -> dict[str, Any]:
    return {item.key: _value(item.value) for item in items}


@dataclass
class FakeCollector:
    """Spans received so far, and the URL to point an exporter at."""

    url: str = ""
    spans: list[CollectedSpan] = field(default_factory=list)
    requests: list[bytes] = field(default_factory=list)  # decoded request bodies
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, body: bytes) -> None:
        message = ExportTraceServiceRequest()
        message.ParseFromString(body)
        with self.lock:
            self.requests.append(body)
            for resource_spans in message.resource_spans:
                resource = _attributes(resource_spans.resource.attributes)
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        self.spans.append(
                            CollectedSpan(
                                name=span.name,
                                trace_id=span.trace_id.hex(),
                                span_id=span.span_id.hex(),
                                parent_span_id=span.parent_span_id.hex(),
                                kind=span.kind,
                                attributes=_attributes(span.attributes),
                                resource=resource,
                                status_code=span.status.code,
                                raw=span.SerializeToString(),
                            )
                        )

    def wait_for(
        self, predicate: Callable[[CollectedSpan], bool], timeout: float = 10
    ) -> list[CollectedSpan]:
        """Spans matching ``predicate``, waiting up to ``timeout`` seconds for the first."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                found = [span for span in self.spans if predicate(span)]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


@contextmanager
def fake_collector() -> Iterator[FakeCollector]:
    """A running fake collector; ``collector.url`` is its base URL (no ``/v1/traces``)."""
    state = FakeCollector()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if self.path != "/v1/traces":
                self.send_error(404)
                return
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            try:
                state.add(body)
            except Exception:
                self.send_error(400)
                return
            reply = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with serving(Handler) as base_url:
        state.url = base_url
        yield state
