"""Writes activity events, always inside the caller's transaction.

Only the registry's seven types exist; an unknown type is a programming error
and fails loudly instead of leaking an unregistered event to clients.
Summaries are fixed phrases: never prompts, provider names or storage keys.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract.ids import new_id, utc_now
from image_skill.service.db.models import ActivityEvent

REGISTRY: dict[str, tuple[str, str]] = {
    # event type -> (subject type, default operation)
    "job.completed": ("job", "create"),
    "asset.created": ("asset", "create"),
    "asset.uploaded": ("asset", "upload"),
    "usage.credit_consumed": ("usage", "usage"),
    "feedback.created": ("feedback", "feedback"),
    "payment.checkout_session.created": ("payment", "payment"),
    "credits.payment_backed_granted": ("credit", "credits"),
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
)


async def record(
    session: AsyncSession,
    *,
    event_type: str,
    organization_id: str,
    actor_id: str | None,
    subject_id: str,
    summary: str,
    status: str,
    links: dict[str, Any],
    trace_id: str | None,
    operation: str | None = None,
    cost: dict[str, Any] | None = None,
) -> ActivityEvent:
    """Append one registry event to the organization's ledger."""
    subject_type, default_operation = REGISTRY[event_type]
    unknown = set(links) - set(LINK_KEYS)
    if unknown:
        raise ValueError(f"unregistered activity links: {sorted(unknown)}")
    event = ActivityEvent(
        id=new_id("evt"),
        organization_id=organization_id,
        actor_id=actor_id,
        type=event_type,
        subject_type=subject_type,
        subject_id=subject_id,
        operation=operation or default_operation,
        summary=summary,
        status=status,
        cost=cost,
        links=links,
        trace_id=trace_id,
        occurred_at=utc_now(),
    )
    session.add(event)
    await session.flush()
    return event
