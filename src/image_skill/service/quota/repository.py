"""Quota queries: the jobs that count against the daily caps, and refused attempts.

The daily job cap reads one row (``daily_job_counts``, kept by triggers on
``jobs``, migration 0011); the others read through an ``actor_id``-first index
(migration 0010), so their cost is today's rows (or a few of the newest), never
the account's whole history.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache

from sqlalchemy import (
    ColumnElement,
    ScalarSelect,
    Select,
    and_,
    bindparam,
    func,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract.errors import ErrorCode
from image_skill.service.credits.ledger import GRANT, PURCHASE_GRANT
from image_skill.service.db.credit_models import CreditAccount
from image_skill.service.db.models import CreditLedgerEntry, Job
from image_skill.service.db.quota_models import DailyJobCount

# The refusals kept as never-started failed jobs (quota/refusals.py): what the
# caller's budget, daily cap or balance did not allow.
REFUSAL_CODES: tuple[str, ...] = (
    ErrorCode.BUDGET_CAP_EXCEEDED,
    ErrorCode.BUDGET_REQUIRES_CONFIRMATION,
    ErrorCode.INSUFFICIENT_CREDITS,
    ErrorCode.DAILY_JOB_CAP_REACHED,
    ErrorCode.QUOTA_EXCEEDED,
)


async def creative_jobs_on(session: AsyncSession, actor_id: str, day_start: datetime) -> int:
    """Create/edit jobs of the UTC day starting at ``day_start`` that count against the
    daily cap: queued, running or completed (one row, ``daily_job_counts``)."""
    params = {QUOTA_ACTOR: actor_id, QUOTA_DAY: day_key(day_start)}
    return int(await session.scalar(_jobs_on_day(), params) or 0)


def day_key(day_start: datetime) -> str:
    """The ``daily_job_counts.day`` of the UTC day that contains ``day_start``."""
    return day_start.astimezone(UTC).strftime("%Y-%m-%d")


# The bound parameters of the quota's statements (named apart from any table's columns,
# so a statement on ``jobs`` can return them: an UPDATE reserves its columns' names).
QUOTA_ACTOR, QUOTA_DAY = "quota_actor_id", "quota_day"


@cache
def _jobs_on_day() -> Select[tuple[int]]:
    return select(DailyJobCount.jobs).where(
        DailyJobCount.actor_id == bindparam(QUOTA_ACTOR, type_=DailyJobCount.actor_id.type),
        DailyJobCount.day == bindparam(QUOTA_DAY, type_=DailyJobCount.day.type),
    )


async def jobs_today_and_balance(
    session: AsyncSession, actor_id: str, day_start: datetime
) -> tuple[int, int]:
    """Creative jobs of the day starting at ``day_start`` and the balance, in one statement
    of two primary-key rows (``daily_job_counts``, ``credit_accounts``): what every
    admission checks and every answer reports."""
    params = {QUOTA_ACTOR: actor_id, QUOTA_DAY: day_key(day_start)}
    used, credits = (await session.execute(_jobs_today_and_balance(), params)).one()
    return int(used or 0), int(credits or 0)


@cache
def _jobs_today_and_balance() -> Select[tuple[int | None, int | None]]:
    """Built once (with bound parameters): building and keying a statement costs more
    than running this one, and admissions and answers run it on every create."""
    return select(*jobs_today_and_balance_columns())


def jobs_today_and_balance_columns() -> tuple[ScalarSelect[int], ScalarSelect[int]]:
    """``jobs_today_and_balance`` as two columns for another statement to return (a job's
    completion returns them); that statement binds ``QUOTA_ACTOR`` and ``QUOTA_DAY``."""
    actor_id = bindparam(QUOTA_ACTOR, type_=CreditAccount.actor_id.type)
    balance = select(CreditAccount.balance).where(CreditAccount.actor_id == actor_id)
    return _jobs_on_day().scalar_subquery(), balance.scalar_subquery()


async def uploads_since(
    session: AsyncSession, organization_id: str, actor_id: str, since: datetime
) -> int:
    """Upload jobs ``actor_id`` made since ``since`` (served by ix_jobs_actor_created)."""
    total = await session.scalar(
        select(func.count(Job.id)).where(
            Job.organization_id == organization_id,
            Job.created_at >= since,
            Job.actor_id == actor_id,
            Job.operation == "upload",
        )
    )
    return int(total or 0)


async def refused_since(session: AsyncSession, actor_id: str, since: datetime) -> int:
    """Refused creative attempts of ``actor_id`` kept since ``since`` (never-started
    failed jobs, ``quota.refusals``)."""
    total = await session.scalar(
        select(func.count(Job.id)).where(refused(actor_id), Job.created_at >= since)
    )
    return int(total or 0)


async def recent_refusals(session: AsyncSession, actor_id: str, limit: int) -> list[Job]:
    """The newest refused attempts of ``actor_id`` (walks ix_jobs_actor_status's failed
    jobs newest first, never the account's whole history)."""
    newest = (Job.created_at.desc(), Job.id.desc())
    query = select(Job).where(refused(actor_id)).order_by(*newest).limit(limit)
    return list((await session.execute(query)).scalars())


def refused(actor_id: str) -> ColumnElement[bool]:
    """A refused attempt of ``actor_id``: a create or edit that failed with a refusal's
    code and never started."""
    return and_(
        Job.actor_id == actor_id,
        Job.status == "failed",
        Job.attempts == 0,
        Job.started_at.is_(None),
        Job.operation.in_(("create", "edit")),
        Job.error_code.in_(REFUSAL_CODES),
    )


async def grants(session: AsyncSession, actor_id: str, limit: int) -> list[CreditLedgerEntry]:
    """The newest credit grants of ``actor_id`` (the signup's free preview, purchases,
    operator grants).

    Each kind's newest come from ix_credit_ledger_entries_actor_kind on their own
    (a single ``kind IN`` query lets SQLite walk the account's whole history newest
    first instead, to skip a sort), then the few are merged.
    """

    def newest(kind: str) -> Select[tuple[str]]:
        query = (
            select(CreditLedgerEntry.id)
            .where(CreditLedgerEntry.actor_id == actor_id, CreditLedgerEntry.kind == kind)
            .order_by(CreditLedgerEntry.created_at.desc(), CreditLedgerEntry.id.desc())
            .limit(limit)
            .subquery()
        )
        return select(query.c.id)

    ids = union_all(newest(GRANT), newest(PURCHASE_GRANT)).subquery()
    query = (
        select(CreditLedgerEntry)
        .where(CreditLedgerEntry.id.in_(select(ids.c.id)))
        .order_by(CreditLedgerEntry.created_at.desc(), CreditLedgerEntry.id.desc())
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())
