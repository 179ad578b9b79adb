"""The credit ledger: append-only rows; a balance is always a sum, never a stored number.

Rows are never updated or deleted. A movement that must happen at most once
(the signup grant, the debit of one job) carries an ``idempotency_scope`` with
a unique constraint, so a retry can only ever add the row once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract.ids import new_id, utc_now
from image_skill.service.db.models import CreditLedgerEntry

GRANT = "grant"
RESERVATION = "reservation"
DEBIT = "debit"
RELEASE = "release"
PURCHASE_GRANT = "purchase_grant"


async def grant_once(
    session: AsyncSession,
    *,
    organization_id: str,
    actor_id: str,
    amount: int,
    reason: str,
    scope: str,
    kind: str = GRANT,
    reference_id: str | None = None,
) -> CreditLedgerEntry:
    """Add credits exactly once per ``scope`` (returns the existing row on repeat)."""
    entry = await append_raw(
        session,
        organization_id=organization_id,
        actor_id=actor_id,
        kind=kind,
        amount=amount,
        reason=reason,
        scope=scope,
        reference_id=reference_id,
    )
    if entry is not None:
        return entry
    query = select(CreditLedgerEntry).where(CreditLedgerEntry.idempotency_scope == scope)
    return (await session.execute(query)).scalar_one()


async def append_raw(
    session: AsyncSession,
    *,
    organization_id: str,
    actor_id: str,
    kind: str,
    amount: int,
    reason: str,
    scope: str,
    job_id: str | None = None,
    reference_id: str | None = None,
) -> CreditLedgerEntry | None:
    """Append one row unless a row with ``scope`` exists (then nothing happens)."""
    existing = await session.scalar(
        select(CreditLedgerEntry.id).where(CreditLedgerEntry.idempotency_scope == scope)
    )
    if existing is not None:
        return None
    entry = CreditLedgerEntry(
        id=new_id("credit_event"),
        organization_id=organization_id,
        actor_id=actor_id,
        kind=kind,
        amount=amount,
        reason=reason,
        job_id=job_id,
        reference_id=reference_id,
        idempotency_scope=scope,
        created_at=utc_now(),
    )
    session.add(entry)
    await session.flush()
    return entry


async def balance(session: AsyncSession, actor_id: str) -> int:
    """Spendable credits: every grant minus debits and open reservations."""
    total = await session.scalar(
        select(func.coalesce(func.sum(CreditLedgerEntry.amount), 0)).where(
            CreditLedgerEntry.actor_id == actor_id
        )
    )
    return int(total or 0)


async def granted_by_reason(session: AsyncSession, actor_id: str, reason: str) -> int:
    """Total credits granted to an actor for one reason (e.g. the free preview)."""
    total = await session.scalar(
        select(func.coalesce(func.sum(CreditLedgerEntry.amount), 0)).where(
            CreditLedgerEntry.actor_id == actor_id,
            CreditLedgerEntry.reason == reason,
            CreditLedgerEntry.amount > 0,
        )
    )
    return int(total or 0)


async def reserved(session: AsyncSession, actor_id: str) -> int:
    """Credits held by reservations not yet released (jobs in flight)."""
    held = await session.scalar(
        select(func.coalesce(func.sum(CreditLedgerEntry.amount), 0)).where(
            CreditLedgerEntry.actor_id == actor_id,
            CreditLedgerEntry.kind.in_((RESERVATION, RELEASE)),
        )
    )
    return -int(held or 0)


async def spent(session: AsyncSession, actor_id: str, since: datetime) -> tuple[int, int]:
    """Credits debited for completed jobs: (since ``since``, in total), in one indexed SUM."""
    debited = -CreditLedgerEntry.amount
    today = case((CreditLedgerEntry.created_at >= since, debited), else_=0)
    row = (
        await session.execute(
            select(func.coalesce(func.sum(today), 0), func.coalesce(func.sum(debited), 0)).where(
                CreditLedgerEntry.actor_id == actor_id, CreditLedgerEntry.kind == DEBIT
            )
        )
    ).one()
    return int(row[0] or 0), int(row[1] or 0)
