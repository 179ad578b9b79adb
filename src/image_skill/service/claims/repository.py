"""Database access for claims: plain queries, no business rules."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.service.db.models import Claim

PENDING = "pending"
CONFIRMED = "confirmed"
SUPERSEDED = "superseded"


async def supersede_pending(session: AsyncSession, agent_id: str, *, at: datetime) -> int:
    """Mark the agent's pending claims superseded (their links stop working); returns how many."""
    result = await session.execute(
        update(Claim)
        .where(Claim.agent_id == agent_id, Claim.state == PENDING)
        .values(state=SUPERSEDED, updated_at=at)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def for_agent(session: AsyncSession, agent_id: str, claim_id: str) -> Claim | None:
    """The agent's own claim ``claim_id`` (another agent's is None, like a missing one)."""
    query = select(Claim).where(Claim.id == claim_id, Claim.agent_id == agent_id)
    return (await session.execute(query)).scalar_one_or_none()


async def newest_for_agent(session: AsyncSession, agent_id: str, limit: int) -> list[Claim]:
    """The agent's claims, newest first."""
    query = (
        select(Claim)
        .where(Claim.agent_id == agent_id)
        .order_by(Claim.created_at.desc(), Claim.id.desc())
        .limit(limit)
    )
    return list((await session.execute(query)).scalars())


async def latest_in_state(session: AsyncSession, agent_id: str, state: str) -> Claim | None:
    """The agent's newest claim in ``state``."""
    query = (
        select(Claim)
        .where(Claim.agent_id == agent_id, Claim.state == state)
        .order_by(Claim.created_at.desc(), Claim.id.desc())
        .limit(1)
    )
    return (await session.execute(query)).scalar_one_or_none()


async def by_token_hash(
    session: AsyncSession, token_hash: str, *, for_update: bool
) -> Claim | None:
    """The claim a link token belongs to (row-locked on PostgreSQL when confirming)."""
    query = select(Claim).where(Claim.token_hash == token_hash)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()
