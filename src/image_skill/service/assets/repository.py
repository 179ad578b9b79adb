"""Asset queries, and the one owned-asset lookup every domain uses.

An asset belongs to an organization; a missing id and another organization's id
must look the same to the caller, so lookups answer None for both and the
caller raises its own NOT_FOUND.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract.ids import ASSET_ID_PATTERN
from image_skill.service.db.models import Asset, Job

_ASSET_ID = re.compile(ASSET_ID_PATTERN)


def is_asset_id(value: str) -> bool:
    """True when ``value`` has the contract's asset-id shape."""
    return _ASSET_ID.match(value) is not None


async def owned(session: AsyncSession, organization_id: str, asset_id: str) -> Asset | None:
    """The asset if the id is well formed, exists and belongs to the organization."""
    if not is_asset_id(asset_id):
        return None
    asset = await session.get(Asset, asset_id)
    if asset is None or asset.organization_id != organization_id:
        return None
    return asset


async def by_media_name(session: AsyncSession, asset_id: str, extension: str) -> Asset | None:
    """The asset a media URL ``/a/<asset_id>.<extension>`` names, by any organization."""
    if not is_asset_id(asset_id):
        return None
    asset = await session.get(Asset, asset_id)
    return asset if asset is not None and asset.extension == extension else None


async def of_jobs(session: AsyncSession, job_ids: Iterable[str]) -> dict[str, list[Asset]]:
    """The assets each job produced, in creation order, in one query."""
    ids = list(job_ids)
    produced: dict[str, list[Asset]] = {job_id: [] for job_id in ids}
    if not ids:
        return produced
    query = select(Asset).where(Asset.job_id.in_(ids)).order_by(Asset.id)
    for asset in (await session.execute(query)).scalars():
        if asset.job_id is not None:
            produced[asset.job_id].append(asset)
    return produced


async def page(
    session: AsyncSession,
    organization_id: str,
    *,
    limit: int,
    before: str | None = None,
    kind: str | None = None,
    job_id: str | None = None,
    actor_id: str | None = None,
) -> list[Asset]:
    """Newest-first assets of an organization older than the cursor ``before`` (an asset id).

    ``kind`` is ``uploaded`` (the stored kind), or ``edited`` / ``generated``: made by
    an edit job, or by any other job (asset ids sort by creation time).
    """
    query = select(Asset).where(Asset.organization_id == organization_id)
    if before is not None:
        query = query.where(Asset.id < before)
    if job_id is not None:
        query = query.where(Asset.job_id == job_id)
    if actor_id is not None:
        query = query.where(Asset.actor_id == actor_id)
    if kind == "uploaded":
        query = query.where(Asset.kind == "uploaded")
    elif kind in ("generated", "edited"):
        made_by_edit = Job.operation == "edit"
        query = query.join(Job, Job.id == Asset.job_id).where(
            Asset.kind != "uploaded", made_by_edit if kind == "edited" else ~made_by_edit
        )
    query = query.order_by(Asset.id.desc()).limit(limit)
    return list((await session.execute(query)).scalars())
