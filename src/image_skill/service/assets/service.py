"""Reading assets: an organization's own by id, or a page of them (media URLs: assets/media.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract.errors import ImageSkillError, invalid_arguments, not_found
from image_skill.providers.base import Model
from image_skill.service.assets import repository
from image_skill.service.catalog.defaults import is_stand_in
from image_skill.service.db.models import Asset, Job

# The kinds ``GET /v1/assets?kind=`` filters by: made by a create, by an edit, uploaded.
ASSET_KINDS = ("generated", "edited", "uploaded")
LIST_COMMAND = "image-skill assets list --json"


@dataclass(frozen=True)
class AssetPage:
    """Newest-first assets and the cursor of the next page."""

    assets: list[Asset]
    next_cursor: str | None


def _missing() -> ImageSkillError:
    # The one answer for missing and foreign ids alike.
    return not_found("No such asset in your organization.", suggested_command=LIST_COMMAND)


async def owned_asset(session: AsyncSession, organization_id: str, asset_id: str) -> Asset:
    """The asset if it belongs to the organization; NOT_FOUND otherwise."""
    asset = await repository.owned(session, organization_id, asset_id)
    if asset is None:
        raise _missing()
    return asset


async def asset_page(
    session: AsyncSession,
    organization_id: str,
    *,
    limit: int,
    cursor: str | None = None,
    kind: str | None = None,
    job_id: str | None = None,
    actor_id: str | None = None,
) -> AssetPage:
    """Up to ``limit`` assets before ``cursor``, optionally of one kind, job or actor."""
    if cursor and not repository.is_asset_id(cursor):
        raise invalid_arguments(
            "cursor must be the next_cursor of a previous page (an image_... id).", field="cursor"
        )
    if kind is not None and kind not in ASSET_KINDS:
        raise invalid_arguments(f"kind must be one of {', '.join(ASSET_KINDS)}.", field="kind")
    assets = await repository.page(
        session,
        organization_id,
        limit=limit + 1,
        before=cursor or None,
        kind=kind,
        job_id=job_id or None,
        actor_id=actor_id,
    )
    has_more = len(assets) > limit
    assets = assets[:limit]
    return AssetPage(assets, assets[-1].id if has_more and assets else None)


async def made_by_stand_in(
    session: AsyncSession, asset: Asset, models: Mapping[str, Model]
) -> bool | None:
    """Whether a job's stand-in model made the asset (None for uploads and unknown models)."""
    return (await stand_in_of(session, [asset], models))[asset.id]


async def stand_in_of(
    session: AsyncSession, assets: list[Asset], models: Mapping[str, Model]
) -> dict[str, bool | None]:
    """``made_by_stand_in`` for each asset (by id), with one query for their jobs."""
    job_ids = {asset.job_id for asset in assets if asset.job_id}
    model_of: dict[str, str | None] = {}
    if job_ids:
        rows = await session.execute(select(Job.id, Job.model_id).where(Job.id.in_(job_ids)))
        model_of = {job_id: model_id for job_id, model_id in rows.tuples()}
    return {asset.id: is_stand_in(models, model_of.get(asset.job_id or "")) for asset in assets}
