"""Admin queries: agents with their sponsors, balances and live tokens; feedback rows."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.service.db.models import Actor, ApiToken, CreditLedgerEntry, Feedback


async def agent(session: AsyncSession, actor_id: str, *, for_update: bool = False) -> Actor | None:
    """An agent (not a human) by id, row-locked when asked."""
    query = select(Actor).where(Actor.id == actor_id, Actor.actor_type == "agent")
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def agents(session: AsyncSession, *, claim_state: str | None, limit: int) -> list[Actor]:
    """Agents, newest first, optionally only in one claim state."""
    query = select(Actor).where(Actor.actor_type == "agent")
    if claim_state is not None:
        query = query.where(Actor.claim_state == claim_state)
    query = query.order_by(Actor.created_at.desc(), Actor.id.desc()).limit(limit)
    return list((await session.execute(query)).scalars())


async def actors_by_id(session: AsyncSession, ids: Collection[str]) -> dict[str, Actor]:
    """The actors with these ids, by id."""
    if not ids:
        return {}
    rows = await session.execute(select(Actor).where(Actor.id.in_(ids)))
    return {row.id: row for row in rows.scalars()}


async def balances(session: AsyncSession, actor_ids: Collection[str]) -> dict[str, int]:
    """The credit balance of each actor that has ledger rows."""
    if not actor_ids:
        return {}
    sums = await session.execute(
        select(CreditLedgerEntry.actor_id, func.coalesce(func.sum(CreditLedgerEntry.amount), 0))
        .where(CreditLedgerEntry.actor_id.in_(actor_ids))
        .group_by(CreditLedgerEntry.actor_id)
    )
    return {actor_id: int(total) for actor_id, total in sums.all()}


async def live_token_counts(session: AsyncSession, actor_ids: Collection[str]) -> dict[str, int]:
    """How many unrevoked tokens each actor holds (actors with none are absent)."""
    if not actor_ids:
        return {}
    counts = await session.execute(
        select(ApiToken.actor_id, func.count(ApiToken.id))
        .where(ApiToken.actor_id.in_(actor_ids), ApiToken.revoked_at.is_(None))
        .group_by(ApiToken.actor_id)
    )
    return {actor_id: int(count) for actor_id, count in counts.all()}


async def feedback_rows(
    session: AsyncSession, *, next_state: str | None, limit: int
) -> list[Feedback]:
    """Feedback, newest first, optionally only in one state."""
    query = select(Feedback)
    if next_state is not None:
        query = query.where(Feedback.next_state == next_state)
    query = query.order_by(Feedback.created_at.desc(), Feedback.id.desc()).limit(limit)
    return list((await session.execute(query)).scalars())


async def feedback_for_update(session: AsyncSession, feedback_id: str) -> Feedback | None:
    """One feedback row, locked for a triage change."""
    query = select(Feedback).where(Feedback.id == feedback_id).with_for_update()
    return (await session.execute(query)).scalar_one_or_none()
