"""Reading assets: an organization's own by id (media URLs: assets/media.py)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract.errors import ImageSkillError, not_found
from image_skill.service.assets import repository
from image_skill.service.db.models import Asset


def _missing() -> ImageSkillError:
    # The one answer for missing and foreign ids alike.
    return not_found("No such asset in your organization.")


async def owned_asset(session: AsyncSession, organization_id: str, asset_id: str) -> Asset:
    """The asset if it belongs to the organization; NOT_FOUND otherwise."""
    asset = await repository.owned(session, organization_id, asset_id)
    if asset is None:
        raise _missing()
    return asset
