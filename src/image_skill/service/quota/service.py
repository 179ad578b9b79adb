"""The quota view: balance, free-preview grant, daily job and upload caps and reset time,
spending, refused attempts and the account's history (signup and grants)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract.ids import iso, utc_now
from image_skill.service.catalog.pricing import CREDIT_UNIT_USD
from image_skill.service.credits import ledger
from image_skill.service.db.models import Actor
from image_skill.service.identity.principal import Principal
from image_skill.service.quota import repository
from image_skill.service.settings import Settings


def daily_job_cap(settings: Settings, principal: Principal) -> int | None:
    """The creative-job cap per UTC day for this actor (None: unlimited)."""
    if principal.is_local_owner:
        return None
    return {
        "unclaimed": settings.daily_job_cap_unclaimed,
        "payment_backed_unclaimed": settings.daily_job_cap_payment_backed,
        "claimed": settings.daily_job_cap_claimed,
    }.get(principal.claim_state, 0)


def daily_upload_cap(settings: Settings, principal: Principal) -> int | None:
    """Uploads per UTC day for this actor (None: not capped); only unclaimed agents are."""
    if principal.is_local_owner or principal.claim_state != "unclaimed":
        return None
    return settings.daily_upload_cap_unclaimed


def utc_day_bounds(now: datetime) -> tuple[datetime, datetime]:
    """Start of the current UTC day and the next reset."""
    start = datetime.combine(now.date(), time(0), tzinfo=now.tzinfo)
    return start, start + timedelta(days=1)


async def quota_view(
    session: AsyncSession, settings: Settings, principal: Principal
) -> dict[str, Any]:
    """The ``usage quota`` data for ``principal``."""
    now = utc_now()
    day_start, reset_at = utc_day_bounds(now)
    credits = await ledger.standing(session, principal.actor_id, day_start)
    balance = credits.balance
    free_preview = await ledger.granted_by_reason(session, principal.actor_id, "free_preview")
    used_today = await repository.creative_jobs_on(session, principal.actor_id, day_start)
    cap = daily_job_cap(settings, principal)
    remaining = None if cap is None else max(cap - used_today, 0)
    upload_cap = daily_upload_cap(settings, principal)
    uploads_today = await repository.uploads_since(
        session, principal.organization_id, principal.actor_id, day_start
    )
    return {
        "claim_state": principal.claim_state,
        "credits": {
            "balance": balance,
            "credit_unit_usd": CREDIT_UNIT_USD,
            "credit_unit_cents": 1,
            "balance_usd": round(balance * CREDIT_UNIT_USD, 2),
            "free_preview_granted": free_preview,
            "reserved_in_flight": credits.reserved,
        },
        "jobs": {
            "daily_cap": cap,
            "used_today": used_today,
            "remaining_today": remaining,
            "window": "utc_day",
            "resets_at": iso(reset_at),
        },
        "uploads": {
            "daily_cap": upload_cap,
            "used_today": uploads_today,
            "remaining_today": None if upload_cap is None else max(upload_cap - uploads_today, 0),
            "window": "utc_day",
            "resets_at": iso(reset_at),
        },
        "spending": spending_view(
            credits.spent_today, credits.spent_total, credits.reserved, balance
        ),
        "refusals": await refusals_view(session, principal.actor_id, day_start),
        "history": await history_view(session, principal.actor_id),
        "limits": {
            "unlimited": principal.is_local_owner,
            "creative_operations": ["create", "edit"],
        },
        "as_of": iso(now),
    }


def spending_view(
    spent_today: int, spent_total: int, reserved: int, remaining: int
) -> dict[str, Any]:
    """Credits spent (today and ever), held for jobs in flight and left, each also in USD."""
    figures = {
        "spent_today": spent_today,
        "spent_total": spent_total,
        "reserved": reserved,
        "remaining": remaining,
    }
    usd = {f"{name}_usd": round(value * CREDIT_UNIT_USD, 2) for name, value in figures.items()}
    return {
        **{f"{name}_credits": value for name, value in figures.items()},
        **usd,
        "credit_unit_usd": CREDIT_UNIT_USD,
        "spent_today_window": "utc_day",
    }


# How many refused attempts and grants the quota view lists.
RECENT = 5
REFUSALS_COMMAND = "image-skill jobs list --status failed --json"


async def refusals_view(
    session: AsyncSession, actor_id: str, day_start: datetime
) -> dict[str, Any]:
    """Creates and edits refused today (budget, cap, balance) and the newest few."""
    recent = await repository.recent_refusals(session, actor_id, RECENT)
    return {
        "today": await repository.refused_since(session, actor_id, day_start),
        "recent": [
            {
                "job_id": job.id,
                "code": job.error_code,
                "operation": job.operation,
                "model_id": job.model_id,
                "refused_at": iso(job.created_at),
            }
            for job in recent
        ],
        "list_command": REFUSALS_COMMAND,
    }


async def history_view(session: AsyncSession, actor_id: str) -> dict[str, Any]:
    """When this actor signed up and its newest credit grants (the free preview first)."""
    actor = await session.get(Actor, actor_id)
    granted = await repository.grants(session, actor_id, RECENT)
    return {
        "signed_up_at": iso(actor.created_at) if actor is not None else None,
        "grants": [
            {
                "credit_event_id": entry.id,
                "credits": entry.amount,
                "reason": entry.reason,
                "granted_at": iso(entry.created_at),
            }
            for entry in granted
        ],
    }
