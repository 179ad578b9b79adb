"""Accepting feedback into product memory.

Rules, in the order they apply:

1. **Secrets first.** If any text field looks like a credential, nothing is
   stored and nothing is logged; the answer names the field (never the value)
   and asks for a clean resend. It is still a success envelope: the request
   was understood, it just cannot be kept.
2. **Validation.** ``title`` or ``body`` is required; severity and confidence
   come from fixed scales; ``next_state`` is free but unknown states get a
   warning.
3. **Fail closed.** The row and its ``feedback.created`` activity event are
   written in one transaction of their own, committed before answering (so
   ``submit`` takes the engine, not the request's session: it must see its
   own commit fail). Any
   database failure on the way (including the commit) answers
   ``FEEDBACK_STORAGE_UNAVAILABLE``, never a success that was not kept.
4. **Deduplication.** A ``dedupe_key`` already used in the organization merges
   the new report into the existing row: occurrences go up by one, surface and
   evidence are unioned, fields the first report left empty are filled in,
   ``updated_at`` moves, and the answer (200, not 201: nothing new was created)
   carries the same ``feedback_id`` with ``deduplicated: true``. The first
   report's title, body and classification stand; the stored quality warnings
   are those of the merged row as the latest sender asked for them. No second
   ``feedback.created`` event is written: the ledger records that a signal
   entered product memory, once per signal; repeats show up as ``occurrences``.
   Two first reports racing on one key cannot both insert (the unique
   constraint refuses one); the loser re-reads the winner's row under a lock
   and merges into it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from image_skill.contract.errors import (
    ErrorCode,
    ImageSkillError,
    flag_required,
    invalid_arguments,
    retry_later,
)
from image_skill.contract.ids import iso, new_id, utc_now
from image_skill.service.activity.recorder import Headline, Origin, record
from image_skill.service.db.engine import session_scope
from image_skill.service.db.models import Feedback
from image_skill.service.feedback.quality import Quality, assess
from image_skill.service.feedback.schemas import FeedbackRequest
from image_skill.service.feedback.secrets import find_secret
from image_skill.service.identity.principal import Principal
from image_skill.service.json_guard import text_problem
from image_skill.service.outcome import Outcome

log = logging.getLogger("image_skill.feedback")

DEFAULT_TYPE = "user_feedback"
SEVERITIES = ("low", "medium", "high", "critical")
CONFIDENCES = ("low", "medium", "high")
NEXT_STATES = ("new", "watch", "investigate", "fix", "wont_fix", "done")
TEXT_FIELDS = (
    "title",
    "body",
    "command",
    "expected",
    "actual",
    "friction",
    "proof_needed",
    "strategic_reason",
    "source",
    "trace_id",
)
# Fields a repeat may fill in when the first report left them empty.
FILLABLE = tuple(name for name in TEXT_FIELDS if name not in ("title", "body"))
# Every field scanned for secrets, in the order they are reported.
SCANNED = (
    "type",
    *TEXT_FIELDS,
    "dedupe_key",
    "severity",
    "confidence",
    "next_state",
    "surface",
    "evidence",
)
# Merged lists stay bounded however many repeats arrive.
MAX_MERGED_SURFACE = 40
MAX_MERGED_EVIDENCE = 100
_INSERT_ATTEMPTS = 3
_CREATED = Headline("feedback.created", "Feedback accepted into product memory", "stored")


@dataclass(frozen=True)
class Signal:
    """A validated, normalized submission."""

    type: str
    severity: str
    confidence: str
    next_state: str
    dedupe_key: str | None
    text: dict[str, str | None]
    surface: list[str]
    evidence: list[str]
    allow_weak_signal: bool


async def submit(
    engine: AsyncEngine, principal: Principal, body: FeedbackRequest, *, trace_id: str
) -> Outcome[dict[str, Any]]:
    """Store one feedback signal (or merge it into its duplicate), or refuse a secret."""
    secret_field = find_secret({name: getattr(body, name) for name in SCANNED})
    if secret_field is not None:
        return _secret_refusal(secret_field)
    _refuse_unstorable_text(body)
    signal = _validated(body)
    try:
        async with session_scope(engine, write=True) as session:
            row, deduplicated, quality = await _store(session, principal, signal, trace_id)
    except DataError:
        # The database refused a value: bad input, not an outage (and not worth a retry).
        log.warning("feedback refused by the database as invalid data (%s)", trace_id)
        raise invalid_arguments(
            "A feedback field holds a value that cannot be stored; send plain text.",
            field="body",
        ) from None
    except SQLAlchemyError as exc:
        # The message of a database error can quote the submitted values: log only its kind.
        log.warning("feedback storage failed: %s (%s)", type(exc).__name__, trace_id)
        raise storage_unavailable() from None
    return _stored(row, signal, deduplicated, quality)


def _refuse_unstorable_text(body: FeedbackRequest) -> None:
    """INVALID_ARGUMENTS naming the first field with a NUL or a lone surrogate.

    The JSON body guard refuses these before the route runs; this keeps them
    away from the database (and from the retryable storage error) whatever the
    caller.
    """
    for name in SCANNED:
        value = getattr(body, name)
        values = value if isinstance(value, list) else [value]
        for item in values:
            problem = text_problem(item) if isinstance(item, str) else None
            if problem is not None:
                raise invalid_arguments(f"{name} {problem}.", field=name)


def storage_unavailable() -> ImageSkillError:
    """The fail-closed answer: nothing was kept, try again later."""
    return retry_later(
        ErrorCode.FEEDBACK_STORAGE_UNAVAILABLE,
        "Feedback storage is unavailable, so nothing was stored. Send the same feedback "
        "again later (a dedupe_key makes retries safe).",
        seconds=30,
    )


# -- validation -------------------------------------------------------------------


def _blank_to_none(value: str | None) -> str | None:
    return value or None


def _items(values: list[str] | None) -> list[str]:
    """Non-empty items, first occurrence kept, order preserved."""
    seen: list[str] = []
    for value in values or []:
        if value and value not in seen:
            seen.append(value)
    return seen


def _choice(value: str | None, allowed: tuple[str, ...], default: str, name: str) -> str:
    chosen = (value or default).lower()
    if chosen not in allowed:
        raise invalid_arguments(f"{name} must be one of {', '.join(allowed)}.", field=name)
    return chosen


def _validated(body: FeedbackRequest) -> Signal:
    text = {name: _blank_to_none(getattr(body, name)) for name in TEXT_FIELDS}
    if text["title"] is None and text["body"] is None:
        raise flag_required(
            "Feedback needs a title or a body (ideally both).",
            "--title",
            field="title",
            suggested_command='image-skill feedback create --title "..." --body "..." --json',
        )
    return Signal(
        type=body.type or DEFAULT_TYPE,
        severity=_choice(body.severity, SEVERITIES, "medium", "severity"),
        confidence=_choice(body.confidence, CONFIDENCES, "medium", "confidence"),
        next_state=(body.next_state or "new").lower(),
        dedupe_key=_blank_to_none(body.dedupe_key),
        text=text,
        surface=_items(body.surface),
        evidence=_items(body.evidence),
        allow_weak_signal=bool(body.allow_weak_signal),
    )


# -- storage ----------------------------------------------------------------------


async def find_by_key(
    session: AsyncSession, organization_id: str, dedupe_key: str
) -> Feedback | None:
    """The organization's feedback with ``dedupe_key``, row-locked, if any."""
    query = (
        select(Feedback)
        .where(Feedback.organization_id == organization_id, Feedback.dedupe_key == dedupe_key)
        .with_for_update()
    )
    return (await session.execute(query)).scalar_one_or_none()


async def _store(
    session: AsyncSession, principal: Principal, signal: Signal, trace_id: str
) -> tuple[Feedback, bool, Quality]:
    key = signal.dedupe_key
    for _attempt in range(_INSERT_ATTEMPTS):
        if key is not None:
            existing = await find_by_key(session, principal.organization_id, key)
            if existing is not None:
                return existing, True, _merge(existing, signal)
        row, quality = _new_row(principal, signal)
        try:
            async with session.begin_nested():
                session.add(row)
        except IntegrityError:
            if key is None:
                raise
            continue  # a concurrent first report with this key won: merge into it
        origin = Origin(principal.organization_id, principal.actor_id, trace_id)
        await record(session, _CREATED, origin, subject_id=row.id, links={"feedback_id": row.id})
        return row, False, quality
    raise storage_unavailable()  # the key kept conflicting without a row to merge into


def _new_row(principal: Principal, signal: Signal) -> tuple[Feedback, Quality]:
    now = utc_now()
    quality = assess(
        command=signal.text["command"],
        evidence=signal.evidence,
        expected=signal.text["expected"],
        actual=signal.text["actual"],
        allow_weak_signal=signal.allow_weak_signal,
    )
    row = Feedback(
        id=new_id("sig"),
        organization_id=principal.organization_id,
        actor_id=principal.actor_id,
        type=signal.type,
        severity=signal.severity,
        confidence=signal.confidence,
        next_state=signal.next_state,
        dedupe_key=signal.dedupe_key,
        surface=list(signal.surface),
        evidence=list(signal.evidence),
        quality_warnings=list(quality.warnings),
        occurrences=1,
        created_at=now,
        updated_at=now,
        **signal.text,
    )
    return row, quality


def _quality_of(row: Feedback, signal: Signal) -> Quality:
    return assess(
        command=row.command,
        evidence=list(row.evidence or []),
        expected=row.expected,
        actual=row.actual,
        allow_weak_signal=signal.allow_weak_signal,
    )


def _union(first: list[str] | None, more: list[str], limit: int) -> list[str]:
    merged = list(first or [])
    for item in more:
        if item not in merged and len(merged) < limit:
            merged.append(item)
    return merged


def _merge(row: Feedback, signal: Signal) -> Quality:
    """Fold a repeat into ``row`` (locked by the caller's query)."""
    row.occurrences = (row.occurrences or 1) + 1
    row.surface = _union(row.surface, signal.surface, MAX_MERGED_SURFACE)
    row.evidence = _union(row.evidence, signal.evidence, MAX_MERGED_EVIDENCE)
    for name in FILLABLE:
        if getattr(row, name) is None and signal.text[name] is not None:
            setattr(row, name, signal.text[name])
    row.updated_at = utc_now()
    quality = _quality_of(row, signal)
    row.quality_warnings = list(quality.warnings)
    return quality


# -- answers ----------------------------------------------------------------------


def _secret_refusal(field: str) -> Outcome[dict[str, Any]]:
    warning = (
        f"Nothing was stored: the '{field}' field looks like it contains a secret or token. "
        "Remove the credential (describe it instead, e.g. 'the Stripe test key') and send "
        "the feedback again."
    )
    data = {"stored": False, "feedback_id": None, "reason": "possible_secret", "field": field}
    return Outcome(data=data, warnings=[warning], status_code=200)


def _stored(
    row: Feedback, signal: Signal, deduplicated: bool, quality: Quality
) -> Outcome[dict[str, Any]]:
    warnings = list(quality.warnings)
    if signal.next_state not in NEXT_STATES:
        warnings.append(
            f"next_state is not one of {', '.join(NEXT_STATES)}; it was stored as given."
        )
    if deduplicated:
        warnings.append(
            f"Merged into the existing feedback with this dedupe_key ({row.occurrences} "
            "occurrences); no new activity event was written."
        )
    data = {
        "feedback_id": row.id,
        "stored": True,
        "deduplicated": deduplicated,
        "occurrences": row.occurrences,
        "quality": quality.view(),
        "type": row.type,
        "severity": row.severity,
        "confidence": row.confidence,
        "next_state": row.next_state,
        "dedupe_key": row.dedupe_key,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }
    return Outcome(data=data, warnings=warnings, status_code=200 if deduplicated else 201)
