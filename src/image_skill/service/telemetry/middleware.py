"""The pure ASGI middleware that turns every API call into one telemetry record.

Pure ASGI (not ``BaseHTTPMiddleware``) so the route runs in the same task and
context: the record is a context variable that pipeline code can annotate,
and streaming responses pass through untouched. The middleware mints the
request's trace id before anything else runs, so the envelope, the event line
and the exported span all carry the same one.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from image_skill.contract.errors import ErrorCode
from image_skill.contract.ids import new_trace_id
from image_skill.service.catalog.schemas import CAPABILITIES
from image_skill.service.redacted_traceback import redacted_traceback
from image_skill.service.telemetry import record as records
from image_skill.service.telemetry.core import Telemetry
from image_skill.service.telemetry.metrics import method_label
from image_skill.service.telemetry.record import RequestRecord

METRICS_PATH = "/metrics"
CLIENT_CLOSED = 499  # nginx's status for a request abandoned before its answer
_ERROR_BODY_LIMIT = 64 * 1024
_CAPABILITY_BY_ENDPOINT = {spec["endpoint"]: cid for cid, spec in CAPABILITIES.items()}
log = logging.getLogger("image_skill.service")


class TelemetryMiddleware:
    """Times each HTTP call, collects what it did, and hands it to ``Telemetry``."""

    def __init__(self, app: ASGIApp, telemetry: Telemetry) -> None:
        self.app = app
        self.telemetry = telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._on_lifespan(send))
            return
        if scope["type"] != "http" or scope.get("path") == METRICS_PATH:
            await self.app(scope, receive, send)
            return
        record = self._open(scope)
        token = records.current.set(record)
        span = otel_token = None
        if self.telemetry.tracing is not None:
            span, otel_token = self.telemetry.tracing.start(record)
        watch = _ResponseWatch(send)
        started = time.perf_counter()
        try:
            await self.app(scope, receive, watch.send)
        except Exception:
            if watch.status == 0:  # the error handler outside us will answer 500
                watch.status, record.error_code = 500, ErrorCode.INTERNAL_ERROR.value
            raise
        except BaseException:
            if watch.status == 0:  # cancelled (client gone, server stopping): no answer
                watch.status, record.error_code = CLIENT_CLOSED, "CLIENT_DISCONNECTED"
            raise
        finally:
            record.duration_ms = (time.perf_counter() - started) * 1000
            try:
                _close(record, scope, watch)
                self.telemetry.finish(record, span)
            except Exception as exc:  # telemetry must never break a call
                log.warning("telemetry failed for %s\n%s", record.trace_id, redacted_traceback(exc))
            finally:
                if otel_token is not None and self.telemetry.tracing is not None:
                    self.telemetry.tracing.deactivate(otel_token)
                records.current.reset(token)

    def _open(self, scope: Scope) -> RequestRecord:
        state = scope.setdefault("state", {})
        trace_id = state.get("trace_id") or new_trace_id()
        state["trace_id"] = trace_id  # what responses.trace_id_of hands to the envelope
        headers = dict(_wanted_headers(scope))
        record = RequestRecord(
            telemetry=self.telemetry,
            trace_id=trace_id,
            method=method_label(str(scope.get("method", "GET"))),
            cli_version=records.cli_version(headers.get(records.CLI_VERSION_HEADER)),
            cli_command=records.cli_command(headers.get(records.CLI_COMMAND_HEADER)),
            idempotency_key_sent=records.IDEMPOTENCY_HEADER in headers,
        )
        scope[records.SCOPE_KEY] = record
        return record

    def _on_lifespan(self, send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                await anyio.to_thread.run_sync(self.telemetry.shutdown)
            await send(message)

        return wrapped


def _wanted_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    wanted = (records.CLI_VERSION_HEADER, records.CLI_COMMAND_HEADER, records.IDEMPOTENCY_HEADER)
    return [(name, value) for name, value in scope.get("headers", ()) if name in wanted]


class _ResponseWatch:
    """Forwards the response, noting its status and keeping a small error body."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.status = 0
        self._capture = False
        self.body = bytearray()

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
            if self.status >= 400:
                content_type = dict(message.get("headers", ())).get(b"content-type", b"")
                self._capture = b"json" in content_type
        elif message["type"] == "http.response.body" and self._capture:
            room = _ERROR_BODY_LIMIT - len(self.body)
            if room > 0:
                self.body += message.get("body", b"")[:room]
        await self._send(message)

    def error(self) -> dict[str, Any] | None:
        if not self._capture:
            return None
        try:
            envelope = json.loads(bytes(self.body))
        except ValueError:
            return None
        error = envelope.get("error") if isinstance(envelope, dict) else None
        return error if isinstance(error, dict) else None


def _close(record: RequestRecord, scope: Scope, watch: _ResponseWatch) -> None:
    """Fill in what is only known once the call is over."""
    record.http_status = watch.status
    final_trace_id = scope.get("state", {}).get("trace_id")
    if isinstance(final_trace_id, str) and records.TRACE_ID.fullmatch(final_trace_id):
        record.trace_id = final_trace_id  # a route may adopt another call's trace (/v1/cli)
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    if isinstance(path, str):
        record.endpoint = path
    if record.capability_id is None:
        record.capability_id = _CAPABILITY_BY_ENDPOINT.get(f"{record.method} {record.endpoint}")
    if record.job_id is None:  # jobs show / wait name their job in the path
        path_job = records.service_id(scope.get("path_params", {}).get("job_id"))
        record.job_id = path_job if path_job and path_job.startswith("job_") else None
    principal = scope.get("state", {}).get("principal")
    if principal is not None:
        record.actor_type = getattr(principal, "actor_type", None)
        record.actor_id = getattr(principal, "actor_id", None)
        record.claim_state = getattr(principal, "claim_state", None)
    error = watch.error()
    if error is not None:
        record.error_code = records.error_code(error.get("code")) or record.error_code
        retryable = error.get("retryable")
        record.retryable = retryable if isinstance(retryable, bool) else None
