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
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract.ids import ALPHABET, base32, new_id, utc_now
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


async def record(
    session: AsyncSession,
    headline: Headline,
    origin: Origin,
    *,
    subject_id: str,
    links: dict[str, Any],
    operation: str | None = None,
    cost: dict[str, Any] | None = None,
) -> ActivityEvent:
    """Append one registry event to the organization's ledger."""
    event_type = headline.event_type
    subject_type, default_operation = REGISTRY[event_type]
    unknown = set(links) - set(LINK_KEYS)
    if unknown:
        raise ValueError(f"unregistered activity links: {sorted(unknown)}")
    operation = operation or default_operation
    if operation not in OPERATIONS[event_type]:
        raise ValueError(f"{event_type} events cannot have the operation {operation!r}")
    event = ActivityEvent(
        id=_next_event_id(session),
        organization_id=origin.organization_id,
        actor_id=origin.actor_id,
        type=event_type,
        subject_type=subject_type,
        subject_id=subject_id,
        operation=operation,
        summary=headline.summary,
        status=headline.status,
        cost=cost,
        links=links,
        trace_id=origin.trace_id,
        occurred_at=utc_now(),
    )
    session.add(event)
    session.add_all(
        ActivityRef(event_id=event.id, ref=ref, organization_id=origin.organization_id)
        for ref in references(subject_id, origin.trace_id, links)
    )
    await session.flush()
    return event


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
