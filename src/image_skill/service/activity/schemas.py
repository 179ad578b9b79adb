"""The public form of an activity event.

Only what the ledger stores is shown, and it stores no prompts, provider
names or storage keys. Every link key is present (``null`` when absent) so
clients can read links without probing.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from image_skill.contract.ids import iso
from image_skill.service.activity.recorder import LINK_KEYS
from image_skill.service.db.models import ActivityEvent

SOURCE = "hosted_activity_ledger"


def event_view(event: ActivityEvent) -> dict[str, Any]:
    """One event as ``activity list`` and ``activity show`` return it."""
    links = event.links or {}
    return {
        "event_id": event.id,
        "type": event.type,
        "occurred_at": iso(event.occurred_at),
        "summary": event.summary,
        "operation": event.operation,
        "subject": {"type": event.subject_type, "id": event.subject_id},
        "links": {key: links.get(key) for key in LINK_KEYS},
        "status": event.status,
        "cost": event.cost,
        "trace_id": event.trace_id,
    }


class EventSubject(BaseModel):
    """What an event is about."""

    type: str
    id: str


class EventView(BaseModel):
    """The public form ``event_view`` builds; every link key is present."""

    event_id: str
    type: str
    occurred_at: str
    summary: str
    operation: str
    subject: EventSubject
    links: dict[str, str | list[str] | None]
    status: str
    cost: dict[str, Any] | None
    trace_id: str | None


class ActivityPage(BaseModel):
    """``GET /v1/activity``: newest first; pass ``next_cursor`` back for the next page."""

    events: list[EventView]
    next_cursor: str | None
    source: Literal["hosted_activity_ledger"]


class ActivityReference(BaseModel):
    """The reference asked about and its kind (event, job, asset, ...)."""

    id: str
    type: str


class ActivityAbout(BaseModel):
    """``GET /v1/activity/{reference}``: one event, or the events about a subject."""

    reference: ActivityReference
    event: EventView | None
    events: list[EventView]
    source: Literal["hosted_activity_ledger"]
