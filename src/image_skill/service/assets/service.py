"""Reading assets: an organization's own by id (media URLs: assets/media.py)."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract.errors import ImageSkillError, not_found
from image_skill.providers.base import Model
from image_skill.service.assets import repository
from image_skill.service.catalog.defaults import is_stand_in
from image_skill.service.db.models import Asset, Job


def _missing() -> ImageSkillError:
    # The one answer for missing and foreign ids alike.
    return not_found("No such asset in your organization.")


async def owned_asset(session: AsyncSession, organization_id: str, asset_id: str) -> Asset:
    """The asset if it belongs to the organization; NOT_FOUND otherwise."""
    asset = await repository.owned(session, organization_id, asset_id)
    if asset is None:
        raise _missing()
    return asset


async def made_by_stand_in(
    session: AsyncSession, asset: Asset, models: Mapping[str, Model]
) -> bool | None:
    """Whether a job's stand-in model made the asset (None for uploads and unknown models)."""
    job = await session.get(Job, asset.job_id) if asset.job_id else None
    return is_stand_in(models, job.model_id) if job is not None else None
