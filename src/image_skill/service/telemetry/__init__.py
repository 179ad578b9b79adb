"""Telemetry: one event per API call, Prometheus metrics, optional OpenTelemetry traces.

Route and pipeline code reports details through ``annotate``, ``job_finished``,
``credits_on_commit`` and ``provider_call``; the app factory calls
``install_telemetry``. See docs/telemetry.md for what is (and is never) recorded.
"""

from __future__ import annotations

from fastapi import FastAPI

from image_skill.service.settings import Settings
from image_skill.service.telemetry.core import LOGGER_NAME, Telemetry
from image_skill.service.telemetry.hooks import (
    annotate,
    credits_on_commit,
    job_finished,
    provider_call,
)
from image_skill.service.telemetry.middleware import TelemetryMiddleware

__all__ = [
    "LOGGER_NAME",
    "Telemetry",
    "annotate",
    "credits_on_commit",
    "install_telemetry",
    "job_finished",
    "provider_call",
]


def install_telemetry(app: FastAPI, settings: Settings) -> Telemetry:
    """Give ``app`` its telemetry (``app.state.telemetry``) and the middleware that feeds it."""
    telemetry = Telemetry(settings)
    app.state.telemetry = telemetry
    app.add_middleware(TelemetryMiddleware, telemetry=telemetry)
    return telemetry
