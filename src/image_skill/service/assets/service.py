"""Reading assets: an organization's own by id, anyone's by media URL, and their bytes."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract.errors import ErrorCode, ImageSkillError, not_found
from image_skill.service.assets import repository
from image_skill.service.db.models import Asset
from image_skill.service.storage.base import AssetStore, StoreError


def _missing() -> ImageSkillError:
    # The one answer for missing and foreign ids alike.
    return not_found("No such asset in your organization.")


async def owned_asset(session: AsyncSession, organization_id: str, asset_id: str) -> Asset:
    """The asset if it belongs to the organization; NOT_FOUND otherwise."""
    asset = await repository.owned(session, organization_id, asset_id)
    if asset is None:
        raise _missing()
    return asset


async def media_asset(session: AsyncSession, filename: str) -> Asset:
    """The asset a capability URL ``<asset_id>.<ext>`` names; NOT_FOUND otherwise."""
    asset_id, _, extension = filename.rpartition(".")
    asset = await repository.by_media_name(session, asset_id, extension) if asset_id else None
    if asset is None:
        raise _missing()
    return asset


async def media_bytes(store: AssetStore, asset: Asset) -> bytes:
    """The stored bytes of ``asset``; ASSET_DOWNLOAD_FAILED when the store fails."""
    try:
        return await store.get(asset.storage_key)
    except StoreError as exc:
        raise ImageSkillError(
            ErrorCode.ASSET_DOWNLOAD_FAILED,
            "The asset bytes are temporarily unavailable.",
            retryable=True,
        ) from exc
