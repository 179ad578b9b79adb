"""Reading the activity ledger: a page of an organization's events, or those about one subject."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract.errors import invalid_arguments, not_found
from image_skill.service.activity import repository
from image_skill.service.activity.references import reference_kind
from image_skill.service.db.models import ActivityEvent

# How many related events ``activity show`` returns for a subject reference.
RELATED_LIMIT = 100
_CURSOR = re.compile(r"evt_[A-Za-z0-9]{1,60}")


@dataclass(frozen=True)
class EventPage:
    """Newest-first events and the cursor of the next page."""

    events: list[ActivityEvent]
    next_cursor: str | None


async def event_page(
    session: AsyncSession,
    organization_id: str,
    *,
    limit: int,
    cursor: str | None,
    subject: str | None,
) -> EventPage:
    """Up to ``limit`` events before ``cursor``, optionally only those about ``subject``."""
    kind = reference_kind(subject, field="subject") if subject else None
    if cursor and not _CURSOR.fullmatch(cursor):
        raise invalid_arguments(
            "cursor must be the next_cursor of a previous page (an evt_... id).", field="cursor"
        )
    events = await repository.page(
        session,
        organization_id,
        limit=limit + 1,
        before=cursor or None,
        reference=subject or None,
        reference_kind=kind,
    )
    has_more = len(events) > limit
    events = events[:limit]
    return EventPage(events, events[-1].id if has_more and events else None)


async def events_about(
    session: AsyncSession, organization_id: str, reference: str
) -> tuple[str, list[ActivityEvent]]:
    """The kind of ``reference`` and its event (an ``evt_`` id) or newest related events."""
    kind = reference_kind(reference, field="reference")
    events = await repository.page(
        session,
        organization_id,
        limit=1 if kind == "event" else RELATED_LIMIT,
        reference=reference,
        reference_kind=kind,
    )
    if not events:
        raise not_found(
            f"No activity for this {kind.replace('_', ' ')} in your organization.",
            suggested_command="image-skill activity list --json",
        )
    return kind, events
