"""The small API that route and pipeline code uses to report what a call did.

Every function is a no-op outside a request the middleware is watching (a
script, a background job), so callers never need to check.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from image_skill.service.telemetry.record import SCOPE_KEY, RequestRecord, current

if TYPE_CHECKING:
    from opentelemetry.trace import Span

_PENDING_CREDITS = "image_skill.telemetry.credits"


def _record_of(target: Any) -> RequestRecord | None:
    if target is None:
        return current.get()
    scope = getattr(target, "scope", target)
    found = scope.get(SCOPE_KEY) if isinstance(scope, Mapping) else None
    return found if isinstance(found, RequestRecord) else None


def annotate(
    target: Any = None,
    *,
    job_id: str | None = None,
    capability_id: str | None = None,
    credits: int | None = None,
    outputs: int | None = None,
    replayed: bool | None = None,
    dry_run: bool | None = None,
) -> None:
    """Add details to the current call's event (``target``: a Request or scope; default
    the call being served). Only ids, counts and flags: never a prompt or a payload."""
    record = _record_of(target)
    if record is None:
        return
    details = {
        "job_id": job_id,
        "capability_id": capability_id,
        "credits": credits,
        "outputs": outputs,
        "replayed": replayed,
        "dry_run": dry_run,
    }
    for name, value in details.items():
        if value is not None:
            setattr(record, name, value)


def job_finished(operation: str, status: str, *, outputs: int | None = None) -> None:
    """Count a creative job reaching its final status (and its outputs on the event)."""
    record = current.get()
    if record is None:
        return
    record.telemetry.metrics.jobs.labels(operation, status).inc()
    if outputs is not None:
        record.outputs = outputs


def credits_on_commit(session: Any, movement: str, credits: int) -> None:
    """Count ``credits`` as ``movement`` (reserved/debited/released) once ``session`` commits.

    Ledger writes run in transactions that may roll back or be retried; only
    committed movements are counted.
    """
    record = current.get()
    if record is None or credits <= 0:
        return
    sync_session = getattr(session, "sync_session", session)
    pending = sync_session.info.setdefault(_PENDING_CREDITS, [])
    pending.append((record.telemetry.metrics, movement, credits))


@event.listens_for(Session, "after_commit")
def _count_committed_credits(session: Session) -> None:
    for metrics, movement, credits in session.info.pop(_PENDING_CREDITS, ()):
        metrics.credits.labels(movement).inc(credits)


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back_credits(session: Session, _transaction: Any) -> None:
    session.info.pop(_PENDING_CREDITS, None)


def provider_call(model_id: str) -> ProviderCall:
    """``with provider_call(model_id): ...`` times one provider call."""
    return ProviderCall(model_id)


class ProviderCall:
    """Time one provider call: a latency histogram by model and outcome, and a
    child span when tracing is on. Outcomes: ``ok``, ``error``, ``cancelled``
    (which includes the service's own provider timeout)."""

    def __init__(self, model_id: str) -> None:
        self.model_id = model_id
        self.record = current.get()
        self.started = 0.0
        self.span: Span | None = None

    def __enter__(self) -> ProviderCall:
        if self.record is not None and self.record.telemetry.tracing is not None:
            self.span = self.record.telemetry.tracing.child(
                "provider.generate", {"image_skill.model_id": self.model_id}
            )
        self.started = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.record is None:
            return
        seconds = time.perf_counter() - self.started
        if exc_type is None:
            outcome = "ok"
        elif issubclass(exc_type, Exception):
            outcome = "error"
        else:
            outcome = "cancelled"
        self.record.telemetry.metrics.provider_latency.labels(self.model_id, outcome).observe(
            seconds
        )
        if self.span is not None:
            self.span.set_attribute("image_skill.outcome", outcome)
            self.span.end()
