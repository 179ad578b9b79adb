"""Reading the ledger: newest first, by organization, optionally by one reference."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.service.db.models import ActivityEvent, ActivityRef


async def page(
    session: AsyncSession,
    organization_id: str,
    *,
    limit: int,
    before: str | None = None,
    reference: str | None = None,
    reference_kind: str | None = None,
) -> list[ActivityEvent]:
    """Up to ``limit`` events older than the cursor ``before``, newest first.

    With ``reference`` only the events that refer to it (an event id matches
    just that event).
    """
    query = select(ActivityEvent)
    if reference is None or reference_kind == "event":
        query = query.where(ActivityEvent.organization_id == organization_id)
        if reference is not None:
            query = query.where(ActivityEvent.id == reference)
        key = ActivityEvent.id
    else:
        query = query.join(ActivityRef, ActivityRef.event_id == ActivityEvent.id).where(
            ActivityRef.organization_id == organization_id, ActivityRef.ref == reference
        )
        key = ActivityRef.event_id
    if before is not None:
        query = query.where(key < before)
    query = query.order_by(key.desc()).limit(limit)
    return list((await session.execute(query)).scalars())
