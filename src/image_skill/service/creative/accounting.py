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
from typing import Any

from sqlalchemy import String, bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract.errors import ErrorCode, ImageSkillError
from image_skill.contract.ids import new_id, utc_now
from image_skill.service import telemetry
from image_skill.service.credits import ledger
from image_skill.service.credits.service import CLAIM_COMMAND, top_up_command
from image_skill.service.db.insert_together import TableRows
from image_skill.service.db.models import Actor, CreditLedgerEntry
from image_skill.service.identity.principal import Principal
from image_skill.service.quota.repository import day_key, jobs_today_and_balance
from image_skill.service.quota.service import daily_job_cap, utc_day_bounds
from image_skill.service.settings import Settings


async def lock_account(session: AsyncSession, actor_id: str) -> None:
    """Serialise writers of one account (FOR UPDATE on PostgreSQL; SQLite's
    BEGIN IMMEDIATE already serialises every writer, so nothing is sent there)."""
    if session.get_bind().dialect.name == "sqlite":
        return
    await session.execute(_LOCK_ACCOUNT, {"actor_id": actor_id})


# Built once: uploads and refusals take this lock, admissions the same one through
# image_skill_admission_lock (lock_for_admission). FOR NO KEY UPDATE, not FOR
# UPDATE: admissions of one account still queue on it, but a row that merely refers to
# the actor (a ledger entry, a job, a daily count: their foreign keys take KEY SHARE)
# does not wait for it. A job failing meanwhile holds its day's count row and then
# inserts its release; waiting there for an admission that needs that count row next
# was a deadlock.
_LOCK_ACCOUNT = (
    select(Actor.id)
    .where(Actor.id == bindparam("actor_id", type_=Actor.id.type))
    .with_for_update(key_share=True)
)


async def lock_for_admission(session: AsyncSession, principal: Principal) -> tuple[int, int]:
    """Take the account's admission lock (``lock_account``), then read its jobs today and
    balance, as committed by the time the lock was granted.

    On PostgreSQL one round trip: ``image_skill_admission_lock`` (migration 0013)
    locks, then reads in a fresh snapshot. On SQLite, whose BEGIN IMMEDIATE is the
    lock, the embedded mode's local owner (never refused) reads nothing.
    """
    day_start = utc_day_bounds(utc_now())[0]
    actor_id = principal.actor_id
    if session.get_bind().dialect.name == "sqlite":
        if principal.is_local_owner:
            return 0, 0
        return await jobs_today_and_balance(session, actor_id, day_start)
    params = {"actor_id": actor_id, "day": day_key(day_start)}
    used, balance = (await session.execute(_LOCK_FOR_ADMISSION, params)).one()
    return int(used or 0), int(balance or 0)


_LOCK_FOR_ADMISSION = text("SELECT * FROM image_skill_admission_lock(:actor_id, :day)").bindparams(
    bindparam("actor_id", type_=String()), bindparam("day", type_=String())
)


def admission_refusal(
    settings: Settings, principal: Principal, credits: int, used: int, balance: int
) -> ImageSkillError | None:
    """Why a job of ``credits`` may not start now, with ``used`` jobs today and
    ``balance`` left (``lock_for_admission``); None: it may."""
    if principal.is_local_owner:
        return None
    return _refusal(settings, principal, credits, used, balance)


def _refusal(
    settings: Settings, principal: Principal, credits: int, used: int, balance: int
) -> ImageSkillError | None:
    """The refusal for a job of ``credits`` with ``used`` jobs today and ``balance`` left."""
    cap = daily_job_cap(settings, principal)
    reset_at = utc_day_bounds(utc_now())[1]
    if cap is not None and used >= cap:
        seconds = int((reset_at - utc_now()).total_seconds()) + 1
        return _cap_refusal(settings, principal, cap, used, seconds)
    if balance < credits:
        short = max(credits - balance, 1)
        buy = top_up_command(settings, short)
        how = (
            f"buy at least {short} credits"
            if buy
            else "payments are not configured on this service; ask its operator for credits"
        )
        return ImageSkillError(
            ErrorCode.INSUFFICIENT_CREDITS,
            f"This operation needs {credits} credits; the balance is {balance}: {how}.",
            recovery={"suggested_command": buy} if buy else None,
            details={"credits_required": credits, "balance": balance},
        )
    return None


def _cap_refusal(
    settings: Settings, principal: Principal, cap: int, used: int, seconds: int
) -> ImageSkillError:
    """DAILY_JOB_CAP_REACHED saying what raises the cap, with a command that works here."""
    raisers: list[dict[str, Any]] = []
    buy = top_up_command(settings)
    if principal.claim_state == "unclaimed" and buy:
        purchase_cap = settings.daily_job_cap_payment_backed
        raisers.append({"by": "purchase", "daily_cap": purchase_cap, "command": buy})
    if principal.claim_state in ("unclaimed", "payment_backed_unclaimed"):
        claimed_cap = settings.daily_job_cap_claimed
        raisers.append({"by": "claim", "daily_cap": claimed_cap, "command": CLAIM_COMMAND})
    ways = "; ".join(
        f"{'a credit purchase' if way['by'] == 'purchase' else 'a human claiming this agent'} "
        f"raises it to {way['daily_cap']} a day"
        for way in raisers
    )
    if principal.claim_state == "unclaimed" and not buy:
        ways = "payments are not configured on this service" + (f"; {ways}" if ways else "")
    recovery: dict[str, Any] = {"retry_after_seconds": seconds}
    if raisers:
        recovery["suggested_command"] = raisers[0]["command"]
    return ImageSkillError(
        ErrorCode.DAILY_JOB_CAP_REACHED,
        f"The daily limit of {cap} creative jobs is used up; it resets at 00:00 UTC"
        + (f" ({ways})." if ways else "."),
        recovery=recovery,
        details={
            "limit": "daily_job_cap",
            "daily_cap": cap,
            "used_today": used,
            "raised_by": raisers,
        },
    )


async def reserve(
    session: AsyncSession,
    principal: Principal,
    job_id: str,
    credits: int,
    *,
    into: list[TableRows] | None = None,
) -> None:
    """Hold ``credits`` for a job (a negative reservation row; into ``into``: ``_JobCredits``)."""
    if principal.is_local_owner or credits <= 0:
        return
    job = _JobCredits(principal.organization_id, principal.actor_id, job_id, credits)
    await job.move(session, (ledger.RESERVATION, "job_reservation"), into=into)
    telemetry.credits_on_commit(session, "reserved", credits)


async def settle(
    session: AsyncSession,
    principal: Principal,
    job_id: str,
    credits: int,
    *,
    into: list[TableRows] | None = None,
) -> None:
    """Turn a reservation into a debit: release it and debit the same amount.

    It moves no credits in total, so the balance is the same before and after it
    (a job's completion reports the balance it read just before settling).
    """
    if principal.is_local_owner or credits <= 0:
        return
    job = _JobCredits(principal.organization_id, principal.actor_id, job_id, credits)
    moves = (ledger.RELEASE, "job_settled"), (ledger.DEBIT, "job_debit")
    await job.move(session, *moves, into=into)
    telemetry.credits_on_commit(session, "debited", credits)


async def release(
    session: AsyncSession, actor_id: str, organization_id: str, job_id: str, credits: int
) -> None:
    """Give a failed job's reservation back (once)."""
    if credits <= 0:
        return
    await _JobCredits(organization_id, actor_id, job_id, credits).move(
        session, (ledger.RELEASE, "job_failed")
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
    """One job's credits on its account, moved by appending ledger rows."""

    organization_id: str
    actor_id: str
    job_id: str
    credits: int

    async def move(
        self,
        session: AsyncSession,
        *moves: tuple[str, str],
        into: list[TableRows] | None = None,
    ) -> None:
        """Append one row per ``(kind, reason)``, all in one statement.

        Given ``into``, the rows are added to it for the caller's ``insert_together``
        in this transaction, a taken scope skipped there as here.
        """
        now = utc_now()
        entries = []
        for kind, reason in moves:
            verb, sign = _JOB_MOVES[kind]
            entries.append(
                CreditLedgerEntry(
                    id=new_id("credit_event"),
                    organization_id=self.organization_id,
                    actor_id=self.actor_id,
                    kind=kind,
                    amount=sign * self.credits,
                    reason=reason,
                    job_id=self.job_id,
                    reference_id=None,
                    idempotency_scope=f"{verb}:{self.job_id}",
                    created_at=now,
                )
            )
        if into is None:
            await ledger.append_all(session, entries)
        else:
            into.append(ledger.rows_of(entries))


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
    day_start = utc_day_bounds(utc_now())[0]
    used, balance = await jobs_today_and_balance(session, principal.actor_id, day_start)
    refusal = (
        None if principal.is_local_owner else _refusal(settings, principal, credits, used, balance)
    )
    return QuotaSnapshot(
        refusal=refusal,
        balance=balance,
        daily_cap=daily_job_cap(settings, principal),
        used_today=used,
    )
