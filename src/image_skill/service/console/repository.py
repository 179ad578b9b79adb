"""Database access for the console: its links and sessions, and organization-wide summaries.

Per-asset, per-job and per-event reads come from their domains' services; the
queries here are the ones only the console asks (an organization's agents,
their last use, balances, spending by day and by agent, feedback).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.service.credits.ledger import DEBIT
from image_skill.service.db.console_models import ConsoleSession, ConsoleSignInLink
from image_skill.service.db.credit_models import CreditAccount
from image_skill.service.db.models import ActivityEvent, Actor, CreditLedgerEntry, Feedback


async def link_by_hash(session: AsyncSession, token_hash: str) -> ConsoleSignInLink | None:
    """The sign-in link a token belongs to (row-locked on PostgreSQL: it is spent once)."""
    query = (
        select(ConsoleSignInLink)
        .where(ConsoleSignInLink.token_hash == token_hash)
        .with_for_update()
    )
    return (await session.execute(query)).scalar_one_or_none()


async def session_by_hash(session: AsyncSession, token_hash: str) -> ConsoleSession | None:
    """The console session a cookie's token belongs to."""
    query = select(ConsoleSession).where(ConsoleSession.token_hash == token_hash)
    return (await session.execute(query)).scalar_one_or_none()


async def revoke_session(session: AsyncSession, session_id: str, *, at: datetime) -> None:
    """Revoke one session (signing out)."""
    await session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.id == session_id, ConsoleSession.revoked_at.is_(None))
        .values(revoked_at=at)
    )


async def touch_session(session: AsyncSession, session_id: str, *, at: datetime) -> None:
    """Record that a session was used at ``at``."""
    await session.execute(
        update(ConsoleSession).where(ConsoleSession.id == session_id).values(last_seen_at=at)
    )


async def delete_ended(session: AsyncSession, *, before: datetime, limit: int) -> int:
    """Delete up to ``limit`` links and up to ``limit`` sessions that ended before
    ``before`` (expired, or revoked); returns how many rows went."""
    links = select(ConsoleSignInLink.id).where(ConsoleSignInLink.expires_at < before)
    ended = (ConsoleSession.expires_at < before) | (ConsoleSession.revoked_at < before)
    sessions = select(ConsoleSession.id).where(ended)
    removed = 0
    for model, ids in ((ConsoleSignInLink, links), (ConsoleSession, sessions)):
        result = await session.execute(delete(model).where(model.id.in_(ids.limit(limit))))
        removed += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return removed


async def agents(session: AsyncSession, organization_id: str) -> list[Actor]:
    """The organization's agents, oldest first."""
    query = (
        select(Actor)
        .where(Actor.organization_id == organization_id, Actor.actor_type == "agent")
        .order_by(Actor.created_at, Actor.id)
    )
    return list((await session.execute(query)).scalars())


async def agent(session: AsyncSession, organization_id: str, agent_id: str) -> Actor | None:
    """One agent of the organization (another organization's is None, like a missing one)."""
    query = select(Actor).where(
        Actor.id == agent_id,
        Actor.organization_id == organization_id,
        Actor.actor_type == "agent",
    )
    return (await session.execute(query)).scalar_one_or_none()


async def last_activity(session: AsyncSession, organization_id: str) -> dict[str, datetime]:
    """When each actor of the organization last appeared in its activity ledger."""
    query = (
        select(ActivityEvent.actor_id, func.max(ActivityEvent.occurred_at))
        .where(ActivityEvent.organization_id == organization_id)
        .group_by(ActivityEvent.actor_id)
    )
    rows = (await session.execute(query)).tuples()
    return {actor_id: moment for actor_id, moment in rows if actor_id is not None}


async def balances(session: AsyncSession, actor_ids: list[str]) -> dict[str, int]:
    """Each actor's spendable credits: its ``credit_accounts`` row, as ``credits.ledger.balance``
    reads it (one row per actor, whatever the length of its ledger)."""
    if not actor_ids:
        return {}
    query = select(CreditAccount.actor_id, CreditAccount.balance).where(
        CreditAccount.actor_id.in_(actor_ids)
    )
    return {actor_id: int(total) for actor_id, total in (await session.execute(query)).tuples()}


async def spend_by_day(
    session: AsyncSession, organization_id: str, since: datetime
) -> dict[str, int]:
    """Credits debited for the organization's jobs per UTC day (``YYYY-MM-DD``) since ``since``."""
    day = func.date(CreditLedgerEntry.created_at)
    query = (
        select(day, func.coalesce(func.sum(-CreditLedgerEntry.amount), 0))
        .where(
            CreditLedgerEntry.organization_id == organization_id,
            CreditLedgerEntry.kind == DEBIT,
            CreditLedgerEntry.created_at >= since,
        )
        .group_by(day)
    )
    return {str(moment): int(total) for moment, total in (await session.execute(query)).tuples()}


async def spend_by_actor(
    session: AsyncSession, organization_id: str, since: datetime
) -> dict[str, int]:
    """Credits debited for the organization's jobs per actor since ``since``."""
    query = (
        select(CreditLedgerEntry.actor_id, func.coalesce(func.sum(-CreditLedgerEntry.amount), 0))
        .where(
            CreditLedgerEntry.organization_id == organization_id,
            CreditLedgerEntry.kind == DEBIT,
            CreditLedgerEntry.created_at >= since,
        )
        .group_by(CreditLedgerEntry.actor_id)
    )
    return {actor_id: int(total) for actor_id, total in (await session.execute(query)).tuples()}


async def feedback(session: AsyncSession, organization_id: str, limit: int) -> list[Feedback]:
    """The organization's newest feedback."""
    query = (
        select(Feedback)
        .where(Feedback.organization_id == organization_id)
        .order_by(Feedback.created_at.desc(), Feedback.id.desc())
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())
