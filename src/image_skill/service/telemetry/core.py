"""One app's telemetry: where finished request records go.

Three sinks. Prometheus metrics always count (aggregate, no identities; they
are how an operator runs the service). With ``IMAGE_SKILL_TELEMETRY=on`` (the
default) each call also becomes one JSON line on the ``image_skill.telemetry``
logger and, when an OTLP endpoint is configured, one exported span.
``IMAGE_SKILL_TELEMETRY=off`` is the no-telemetry mode: no event lines, no spans.
The OpenTelemetry SDK is imported only when spans are exported: an app without an
OTLP endpoint (the embedded CLI's, by default) starts without it.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import TYPE_CHECKING

from image_skill.service.settings import Settings
from image_skill.service.telemetry.metrics import Metrics
from image_skill.service.telemetry.record import RequestRecord

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from image_skill.service.telemetry.tracing import Tracing

LOGGER_NAME = "image_skill.telemetry"
log = logging.getLogger(LOGGER_NAME)


class Telemetry:
    """Metrics, event log and (optional) tracing of one app."""

    def __init__(self, settings: Settings) -> None:
        self.events_enabled = settings.telemetry == "on"
        self.metrics = Metrics()
        self.tracing: Tracing | None = None
        if self.events_enabled and settings.otlp_endpoint:
            from image_skill.service.telemetry.tracing import Tracing, sdk_disabled

            if not sdk_disabled():
                self.tracing = Tracing(settings.otlp_endpoint)
        self._logger_ready = False

    def finish(self, record: RequestRecord, span: Span | None) -> None:
        """Send a finished call to every enabled sink."""
        self.metrics.observe_request(
            record.endpoint,
            record.method,
            record.http_status,
            record.duration_ms / 1000,
            record.error_code,
        )
        if span is not None and self.tracing is not None:
            self.tracing.finish(span, record)
        if self.events_enabled:
            self._log_event(record)

    def _log_event(self, record: RequestRecord) -> None:
        if not self._logger_ready:
            _prepare_logger()
            self._logger_ready = True
        if log.isEnabledFor(logging.INFO):
            log.info(json.dumps(record.event(), separators=(",", ":")))

    def flush(self) -> None:
        """Export pending spans now (tests, shutdown)."""
        if self.tracing is not None:
            self.tracing.flush()

    def shutdown(self) -> None:
        """Flush and stop exporters (the app is stopping)."""
        if self.tracing is not None:
            self.tracing.shutdown()


def _prepare_logger() -> None:
    """Make event lines visible even where nobody configured logging.

    The logger logs at INFO unless an operator set its level. If no handler
    would receive its records (``serve`` configures only uvicorn's loggers),
    event lines go to stderr, one bare JSON object per line. Embedded mode's
    file handler on ``image_skill`` and any root handler are used as they are.
    """
    if log.level == logging.NOTSET:
        log.setLevel(logging.INFO)
    if not log.hasHandlers():
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
