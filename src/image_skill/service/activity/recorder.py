"""Writes activity events, always inside the caller's transaction.

Only the registry's types exist; an unknown type is a programming error
and fails loudly instead of leaking an unregistered event to clients.
Summaries are fixed phrases: never prompts, provider names or storage keys.

A call names what happened (``Headline``: type, summary, status) and on whose
behalf (``Origin``: organization, actor, trace) as two small values, so every
domain writes its events the same short way.

Every event also gets one ``activity_refs`` row per distinct id it refers to
(its subject, its trace and every link value), which is what ``activity show``
and ``activity list --subject`` look up.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract.ids import ALPHABET, base32, new_id, utc_now
from image_skill.service.db.insert_together import TableRows
from image_skill.service.db.models import ActivityEvent, ActivityRef

REGISTRY: dict[str, tuple[str, str]] = {
    # event type -> (subject type, default operation)
    "job.completed": ("job", "create"),
    "asset.created": ("asset", "create"),
    "asset.uploaded": ("asset", "upload"),
    "usage.credit_consumed": ("usage", "usage"),
    "feedback.created": ("feedback", "feedback"),
    "payment.checkout_session.created": ("payment", "payment"),
    "credits.payment_backed_granted": ("credit", "credits"),
    "agent.claimed": ("agent", "claim"),
}
# The registry's operation column: creative events name their job's operation,
# every other type has exactly one.
OPERATIONS: dict[str, frozenset[str]] = {
    event_type: frozenset({"create", "edit"} if operation == "create" else {operation})
    for event_type, (_subject, operation) in REGISTRY.items()
}
LINK_KEYS = (
    "job_id",
    "asset_ids",
    "usage_event_id",
    "feedback_id",
    "quote_id",
    "payment_attempt_id",
    "checkout_session_id",
    "receipt_id",
    "credit_event_id",
    "claim_id",
)

# Built once, on the tables: every job's end records its events through them.
_EVENTS: Table = ActivityEvent.__table__  # type: ignore[assignment]
_REFS: Table = ActivityRef.__table__  # type: ignore[assignment]
_INSERT_EVENTS = insert(_EVENTS)
_INSERT_REFS = insert(_REFS)


@dataclass(frozen=True)
class Headline:
    """What happened, as the ledger shows it: a registry type, its fixed phrase and status."""

    event_type: str
    summary: str
    status: str


@dataclass(frozen=True)
class Origin:
    """On whose behalf: the organization whose ledger it is, the actor and the request's trace."""

    organization_id: str
    actor_id: str | None
    trace_id: str | None


@dataclass(frozen=True)
class Event:
    """One event to append: its headline and origin, what it is about and what it links."""

    headline: Headline
    origin: Origin
    subject_id: str
    links: dict[str, Any]
    operation: str | None = None
    cost: dict[str, Any] | None = None


async def record(
    session: AsyncSession,
    headline: Headline,
    origin: Origin,
    *,
    subject_id: str,
    links: dict[str, Any],
    operation: str | None = None,
    cost: dict[str, Any] | None = None,
) -> str:
    """Append one registry event to the organization's ledger; returns its id."""
    event = Event(headline, origin, subject_id, links, operation, cost)
    return (await record_all(session, [event]))[0]


async def record_all(
    session: AsyncSession, events: Sequence[Event], *, into: list[TableRows] | None = None
) -> list[str]:
    """Append registry events in the given order; returns their ids.

    Two statements whatever the count (the events, then their refs), each a
    Core insert of plain rows, after the session's pending changes are flushed
    (an event may name a row added just before it). Given ``into``, the rows are
    added to it instead, for the caller's ``insert_together`` in this transaction.
    """
    now = utc_now()
    rows = [_row(session, event, now) for event in events]
    refs = [
        {"event_id": row["id"], "ref": ref, "organization_id": event.origin.organization_id}
        for row, event in zip(rows, events, strict=True)
        for ref in references(event.subject_id, event.origin.trace_id, event.links)
    ]
    if into is not None:
        into += [TableRows(_EVENTS, rows), TableRows(_REFS, refs)]
        return [row["id"] for row in rows]
    await session.flush()
    await session.execute(_INSERT_EVENTS, rows)
    if refs:
        await session.execute(_INSERT_REFS, refs)
    return [row["id"] for row in rows]


def _row(session: AsyncSession, event: Event, now: datetime) -> dict[str, Any]:
    """The ``activity_events`` row of ``event`` (a registry type, registered links only)."""
    event_type = event.headline.event_type
    subject_type, default_operation = REGISTRY[event_type]
    unknown = set(event.links) - set(LINK_KEYS)
    if unknown:
        raise ValueError(f"unregistered activity links: {sorted(unknown)}")
    operation = event.operation or default_operation
    if operation not in OPERATIONS[event_type]:
        raise ValueError(f"{event_type} events cannot have the operation {operation!r}")
    return {
        "id": _next_event_id(session),
        "organization_id": event.origin.organization_id,
        "actor_id": event.origin.actor_id,
        "type": event_type,
        "subject_type": subject_type,
        "subject_id": event.subject_id,
        "operation": operation,
        "summary": event.headline.summary,
        "status": event.headline.status,
        "cost": event.cost,
        "links": event.links,
        "trace_id": event.origin.trace_id,
        "occurred_at": now,
    }


def references(subject_id: str, trace_id: str | None, links: dict[str, Any]) -> list[str]:
    """The distinct ids an event refers to: subject, trace, then every link value."""
    found: list[str] = []
    values: list[Any] = [subject_id, trace_id]
    for value in links.values():
        values.extend(value if isinstance(value, list) else [value])
    for value in values:
        if isinstance(value, str) and value and value not in found:
            found.append(value)
    return found


# Event ids sort by creation time at millisecond resolution. Events written in one
# transaction usually share a millisecond, so each id is made to sort after the
# previous one of the same session: "newest first" then keeps the written order.
_LAST_EVENT_ID = "image_skill_last_event_id"
_RANDOM_CHARS = 16


def _next_event_id(session: AsyncSession) -> str:
    candidate = new_id("evt")
    last = session.info.get(_LAST_EVENT_ID)
    if isinstance(last, str) and candidate <= last:
        candidate = _successor(last)
    session.info[_LAST_EVENT_ID] = candidate
    return candidate


def _successor(event_id: str) -> str:
    """An id sorting just after ``event_id`` (same time part, larger random part)."""
    prefix, body = event_id.split("_", 1)
    time_part, random_part = body[:-_RANDOM_CHARS], body[-_RANDOM_CHARS:]
    value = 0
    for char in random_part:
        value = value * 32 + ALPHABET.index(char)
    value += 1 + secrets.randbits(32)
    if value >= 32**_RANDOM_CHARS:
        # The random part is exhausted: step the time part by one millisecond.
        millis = 0
        for char in time_part:
            millis = millis * 32 + ALPHABET.index(char)
        time_part = base32(millis + 1, len(time_part))
        value = secrets.randbits(79)
    return f"{prefix}_{time_part}{base32(value, _RANDOM_CHARS)}"
