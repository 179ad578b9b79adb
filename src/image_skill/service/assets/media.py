"""Who may fetch an asset's bytes by media URL, and how the bytes get to them.

A request for ``/a/<asset_id>.<ext>`` is answered when its ``sig`` is the
media name's signature (signing.py), or else when it carries a bearer token of
the organization that owns the asset (in embedded mode a token-less call is the
machine's owner). Anything else, a missing asset included, is the same
NOT_FOUND: no answer tells a stranger that an id exists.

The bytes are streamed from the store (never read whole into memory where the
store can stream), or, with ``IMAGE_SKILL_MEDIA_DELIVERY=redirect``, fetched by
the client itself from a short-lived presigned URL of the bucket.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract.errors import ErrorCode, ImageSkillError, not_found
from image_skill.service.assets import repository
from image_skill.service.assets.signing import signature_matches, signing_key
from image_skill.service.db.models import Asset
from image_skill.service.identity import repository as identity_repository
from image_skill.service.identity.service import authenticate
from image_skill.service.settings import Settings
from image_skill.service.storage.base import AssetStore, StoreError


def _missing() -> ImageSkillError:
    # The one answer for missing, foreign and unsigned alike.
    return not_found("No such asset.")


async def media_asset(
    session: AsyncSession,
    settings: Settings,
    filename: str,
    *,
    sig: str | None,
    bearer: str | None,
) -> Asset:
    """The asset ``<asset_id>.<ext>`` names if this request may read it; NOT_FOUND otherwise."""
    asset_id, _, extension = filename.rpartition(".")
    if not asset_id:
        raise _missing()
    asset: Asset | None
    if signature_matches(signing_key(settings), asset_id, extension, sig):
        asset = await repository.by_media_name(session, asset_id, extension)
    else:
        organization_id = await _caller_organization(session, settings, bearer)
        asset = None
        if organization_id is not None:
            asset = await repository.owned(session, organization_id, asset_id)
        if asset is not None and asset.extension != extension:
            asset = None
    if asset is None:
        raise _missing()
    return asset


async def _caller_organization(
    session: AsyncSession, settings: Settings, bearer: str | None
) -> str | None:
    """The organization of the bearer token (an invalid one counts as none)."""
    if bearer is not None:
        try:
            principal = await authenticate(session, bearer, pepper=settings.token_pepper)
        except ImageSkillError:
            return None
        return principal.organization_id
    if settings.embedded:
        owner = await identity_repository.local_owner(session)
        return owner.organization_id if owner is not None else None
    return None


def _unavailable() -> ImageSkillError:
    return ImageSkillError(
        ErrorCode.ASSET_DOWNLOAD_FAILED,
        "The asset bytes are temporarily unavailable.",
        retryable=True,
    )


async def media_chunks(store: AssetStore, asset: Asset) -> AsyncIterator[bytes]:
    """The stored bytes, opened now (ASSET_DOWNLOAD_FAILED if the store fails), then streamed."""
    try:
        return await store.open(asset.storage_key)
    except StoreError as exc:
        raise _unavailable() from exc


async def presigned_location(store: AssetStore, asset: Asset, seconds: int) -> str | None:
    """Where the client can fetch the bytes itself for ``seconds``; None if the store can't say."""
    try:
        return await store.presigned_url(asset.storage_key, seconds)
    except StoreError as exc:
        raise _unavailable() from exc
