"""The free preview grant and its service-wide daily ceiling.

Each new agent gets ``free_preview_credits``, but signups are cheap, so the
total the service grants per UTC day is bounded: once today's free-preview
ledger rows reach the ceiling, new agents start with none (signup still
works and says so). The check and the grant happen under one lock so two
signups at the edge cannot both pass it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.service.credits.ledger import grant_once
from image_skill.service.identity import repository

FREE_PREVIEW_REASON = "free_preview"


def utc_day_start(moment: datetime) -> datetime:
    """Midnight UTC of the day ``moment`` falls on."""
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


async def grant_free_preview(
    session: AsyncSession,
    *,
    organization_id: str,
    actor_id: str,
    credits: int,
    daily_ceiling: int,
    now: datetime,
) -> int:
    """Grant the new agent its free preview if today's ceiling allows; returns credits granted."""
    if credits <= 0:
        return 0
    await repository.lock(session, "free-preview-ceiling")
    used = await repository.credits_granted_since(session, FREE_PREVIEW_REASON, utc_day_start(now))
    if used + credits > daily_ceiling:
        return 0
    await grant_once(
        session,
        organization_id=organization_id,
        actor_id=actor_id,
        amount=credits,
        reason=FREE_PREVIEW_REASON,
        scope=f"free_preview:{actor_id}",
    )
    return credits
