"""Database access for identity: plain queries, no business rules."""

from __future__ import annotations

import hashlib
from datetime import datetime
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import Select, Table, bindparam, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.service.db.models import Actor, ApiToken, CreditLedgerEntry, Organization


async def lock(session: AsyncSession, name: str) -> None:
    """Serialize the transactions that take the lock ``name`` until each ends.

    Two confirmations for one new human would both insert it (a unique
    violation); two rotations with one token would each keep a new token alive;
    two signups at the free-preview ceiling would both grant. SQLite writers
    already run one at a time (BEGIN IMMEDIATE); PostgreSQL gets a transaction
    advisory lock.
    """
    connection = await session.connection()
    if connection.dialect.name != "postgresql":
        return
    digest = hashlib.sha256(b"image-skill:" + name.encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


async def human_by_email(session: AsyncSession, email: str) -> Actor | None:
    """The human registered with ``email``."""
    query = select(Actor).where(Actor.actor_type == "human", Actor.email == email)
    return (await session.execute(query)).scalar_one_or_none()


async def token_is_live(session: AsyncSession, token_id: str) -> bool:
    """True if the token exists and is not revoked, read fresh from the database."""
    query = select(ApiToken.revoked_at).where(ApiToken.id == token_id)
    row = (await session.execute(query)).first()
    return row is not None and row[0] is None


async def credits_granted_since(session: AsyncSession, reason: str, since: datetime) -> int:
    """Credits granted service-wide for ``reason`` since ``since``."""
    query = select(func.coalesce(func.sum(CreditLedgerEntry.amount), 0)).where(
        CreditLedgerEntry.reason == reason, CreditLedgerEntry.created_at >= since
    )
    return int((await session.execute(query)).scalar_one())


async def local_owner(session: AsyncSession) -> Actor | None:
    """The embedded mode's owner identity, if created."""
    query = select(Actor).where(Actor.is_local_owner.is_(True))
    return (await session.execute(query)).scalars().first()


class TokenHolder(NamedTuple):
    """What authenticating reads of a token and its actor."""

    token_id: str
    token_class: str
    revoked_at: datetime | None
    revoked_reason: str | None
    actor_id: str
    actor_type: str
    organization_id: str
    claim_state: str
    is_local_owner: bool


async def token_with_actor(session: AsyncSession, token_hash: str) -> TokenHolder | None:
    """The token with this hash and its actor, as plain columns (no ORM objects: every
    authenticated request reads it, and loading two mapped rows cost more than the read)."""
    row = (await session.execute(_token_with_actor(), {"token_hash": token_hash})).first()
    return None if row is None else TokenHolder(*row)


@cache
def _token_with_actor() -> Select[Any]:
    """Built once, on the tables' columns in ``TokenHolder``'s order."""
    tokens: Table = ApiToken.__table__  # type: ignore[assignment]
    actors: Table = Actor.__table__  # type: ignore[assignment]
    return (
        select(
            tokens.c.id,
            tokens.c.token_class,
            tokens.c.revoked_at,
            tokens.c.revoked_reason,
            actors.c.id,
            actors.c.actor_type,
            actors.c.organization_id,
            actors.c.claim_state,
            actors.c.is_local_owner,
        )
        .join_from(tokens, actors, actors.c.id == tokens.c.actor_id)
        .where(tokens.c.token_hash == bindparam("token_hash", type_=tokens.c.token_hash.type))
    )


async def revoke_tokens(session: AsyncSession, actor_id: str, *, reason: str, at: datetime) -> int:
    """Revoke every live token of an actor; returns how many."""
    result = await session.execute(
        update(ApiToken)
        .where(ApiToken.actor_id == actor_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=at, revoked_reason=reason)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def live_token(session: AsyncSession, token_id: str) -> ApiToken | None:
    """A token row by id."""
    return await session.get(ApiToken, token_id)


async def actor(session: AsyncSession, actor_id: str) -> Actor | None:
    """An actor (agent or human) by id."""
    return await session.get(Actor, actor_id)


async def organization(session: AsyncSession, organization_id: str) -> Organization | None:
    """An organization by id."""
    return await session.get(Organization, organization_id)
