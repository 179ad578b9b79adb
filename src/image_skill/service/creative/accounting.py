"""Reserve, settle and release credits for one creative job.

Invariants (each movement is one append-only ledger row with a unique scope):
  * admission (cap + balance) is checked under a per-account lock, in the same
    transaction that writes the reservation, so concurrent jobs cannot overdraw;
  * a job's reservation is released exactly once and debited at most once, and
    only after the provider succeeded and the assets were stored;
  * the local owner (embedded mode) is unlimited and moves no credits.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract.errors import ErrorCode, ImageSkillError
from image_skill.contract.ids import utc_now
from image_skill.service import telemetry
from image_skill.service.credits import ledger
from image_skill.service.db.models import Actor
from image_skill.service.identity.principal import Principal
from image_skill.service.quota.repository import creative_jobs_since
from image_skill.service.quota.service import daily_job_cap, utc_day_bounds
from image_skill.service.settings import Settings


async def lock_account(session: AsyncSession, actor_id: str) -> None:
    """Serialise writers of one account (FOR UPDATE on PostgreSQL; SQLite's
    BEGIN IMMEDIATE already serialises every writer)."""
    await session.execute(select(Actor.id).where(Actor.id == actor_id).with_for_update())


async def admission_refusal(
    session: AsyncSession, settings: Settings, principal: Principal, credits: int
) -> ImageSkillError | None:
    """Why a job of ``credits`` may not start now (None: it may)."""
    if principal.is_local_owner:
        return None
    cap = daily_job_cap(settings, principal)
    day_start, reset_at = utc_day_bounds(utc_now())
    used = await creative_jobs_since(session, principal.actor_id, day_start)
    if cap is not None and used >= cap:
        seconds = int((reset_at - utc_now()).total_seconds()) + 1
        return ImageSkillError(
            ErrorCode.DAILY_JOB_CAP_REACHED,
            f"The daily limit of {cap} creative jobs is used up; it resets at 00:00 UTC.",
            recovery={
                "retry_after_seconds": seconds,
                "suggested_command": "image-skill credits quote --pack starter-500 "
                "--payment-method stripe_checkout --json",
            },
        )
    balance = await ledger.balance(session, principal.actor_id)
    if balance < credits:
        return ImageSkillError(
            ErrorCode.INSUFFICIENT_CREDITS,
            f"This operation needs {credits} credits; the balance is {balance}.",
            recovery={
                "suggested_command": "image-skill credits quote --credits "
                f"{max(credits - balance, 1)} --json"
            },
            details={"credits_required": credits, "balance": balance},
        )
    return None


async def reserve(session: AsyncSession, principal: Principal, job_id: str, credits: int) -> None:
    """Hold ``credits`` for a job (a negative reservation row)."""
    if principal.is_local_owner or credits <= 0:
        return
    job = _JobCredits(principal.organization_id, principal.actor_id, job_id, credits)
    await job.move(session, ledger.RESERVATION, "job_reservation")
    telemetry.credits_on_commit(session, "reserved", credits)


async def settle(session: AsyncSession, principal: Principal, job_id: str, credits: int) -> None:
    """Turn a reservation into a debit: release it and debit the same amount."""
    if principal.is_local_owner or credits <= 0:
        return
    job = _JobCredits(principal.organization_id, principal.actor_id, job_id, credits)
    await job.move(session, ledger.RELEASE, "job_settled")
    await job.move(session, ledger.DEBIT, "job_debit")
    telemetry.credits_on_commit(session, "debited", credits)


async def release(
    session: AsyncSession, actor_id: str, organization_id: str, job_id: str, credits: int
) -> None:
    """Give a failed job's reservation back (once)."""
    if credits <= 0:
        return
    await _JobCredits(organization_id, actor_id, job_id, credits).move(
        session, ledger.RELEASE, "job_failed"
    )
    telemetry.credits_on_commit(session, "released", credits)


# A job's movement kind -> the verb of its idempotency scope and the sign of its amount.
# The scope ("release:<job id>" whether settled or failed) is what makes each happen once.
_JOB_MOVES = {
    ledger.RESERVATION: ("reserve", -1),
    ledger.RELEASE: ("release", 1),
    ledger.DEBIT: ("debit", -1),
}


@dataclass(frozen=True)
class _JobCredits:
    """One job's credits on its account, moved one ledger row at a time."""

    organization_id: str
    actor_id: str
    job_id: str
    credits: int

    async def move(self, session: AsyncSession, kind: str, reason: str) -> None:
        verb, sign = _JOB_MOVES[kind]
        await ledger.append_raw(
            session,
            organization_id=self.organization_id,
            actor_id=self.actor_id,
            kind=kind,
            amount=sign * self.credits,
            reason=reason,
            job_id=self.job_id,
            scope=f"{verb}:{self.job_id}",
        )


@dataclass(frozen=True)
class QuotaSnapshot:
    """An account's standing for one job, as responses show it."""

    refusal: ImageSkillError | None
    balance: int
    daily_cap: int | None
    used_today: int


async def quota_snapshot(
    session: AsyncSession, settings: Settings, principal: Principal, credits: int
) -> QuotaSnapshot:
    """Whether a job of ``credits`` could start now, with the balance and today's count."""
    return QuotaSnapshot(
        refusal=await admission_refusal(session, settings, principal, credits),
        balance=await ledger.balance(session, principal.actor_id),
        daily_cap=daily_job_cap(settings, principal),
        used_today=await creative_jobs_since(
            session, principal.actor_id, utc_day_bounds(utc_now())[0]
        ),
    )
