"""Every query of the webhooks domain."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import TypeVar

from sqlalchemy import ColumnElement, ScalarSelect, Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.service.db.webhook_models import WebhookDelivery, WebhookEndpoint

Moment = TypeVar("Moment", datetime, datetime | None)


async def endpoint(
    session: AsyncSession, organization_id: str, *, for_update: bool = False
) -> WebhookEndpoint | None:
    """The organization's webhook settings, if it has any."""
    query = _endpoint(for_update)
    params = {"organization_id": organization_id}
    return (await session.execute(query, params)).scalar_one_or_none()


def default_url_of(organization_id: ColumnElement[str]) -> ScalarSelect[str | None]:
    """The default URL of ``organization_id``'s endpoint, as a column for another query
    (a job's end reads it with the job, in the same statement)."""
    return (
        select(WebhookEndpoint.default_url)
        .where(WebhookEndpoint.organization_id == organization_id)
        .scalar_subquery()
    )


@cache
def _endpoint(for_update: bool) -> Select[tuple[WebhookEndpoint]]:
    """Built once: every job's end looks for its organization's endpoint."""
    organization_id = bindparam("organization_id", type_=WebhookEndpoint.organization_id.type)
    query = select(WebhookEndpoint).where(WebhookEndpoint.organization_id == organization_id)
    return query.with_for_update() if for_update else query


async def delivery(
    session: AsyncSession, delivery_id: str, *, for_update: bool = False
) -> WebhookDelivery | None:
    """One delivery by id (locked for the attempt that changes it)."""
    return await session.get(WebhookDelivery, delivery_id, with_for_update=for_update)


async def deliveries_page(
    session: AsyncSession, organization_id: str, *, limit: int, before: str | None
) -> list[WebhookDelivery]:
    """Up to ``limit`` deliveries older than the id ``before``, newest first (ids sort by time)."""
    query = select(WebhookDelivery).where(WebhookDelivery.organization_id == organization_id)
    if before is not None:
        query = query.where(WebhookDelivery.id < before)
    query = query.order_by(WebhookDelivery.id.desc()).limit(limit)
    return list((await session.execute(query)).scalars())


async def pending(session: AsyncSession, *, limit: int) -> list[tuple[str, datetime | None]]:
    """Pending deliveries (id, next attempt), soonest first."""
    query = (
        select(WebhookDelivery.id, WebhookDelivery.next_attempt_at)
        .where(WebhookDelivery.status == "pending")
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(limit)
    )
    return [(row.id, as_utc(row.next_attempt_at)) for row in await session.execute(query)]


async def overdue(
    session: AsyncSession, *, due_before: datetime, limit: int
) -> list[WebhookDelivery]:
    """Pending deliveries whose next attempt was due before ``due_before``, locked (skipping
    rows another process holds)."""
    query = (
        select(WebhookDelivery)
        .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at < due_before)
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.execute(query)).scalars())


def as_utc(moment: Moment) -> Moment:
    """A timestamp with its zone: SQLite hands them back without one, and they are UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)
