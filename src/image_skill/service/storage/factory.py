"""The one place a process turns its settings into its asset store.

The API app, the admin commands and worker processes all call ``build_store``,
so they write to and read from the same place. The S3 client library is
imported only when the S3 store is chosen: the embedded CLI never pays for it.
"""

from __future__ import annotations

from image_skill.service.settings import Settings
from image_skill.service.storage.base import AssetStore
from image_skill.service.storage.local import LocalAssetStore
from image_skill.service.storage.memory import MemoryAssetStore


def build_store(settings: Settings) -> AssetStore:
    """The store ``IMAGE_SKILL_ASSET_STORE`` names (local files under ``home`` by default)."""
    if settings.asset_store == "memory":
        return MemoryAssetStore()
    if settings.asset_store == "s3":
        from image_skill.service.storage.s3 import S3AssetStore, S3Location

        secret = settings.s3_secret_access_key
        if settings.s3_bucket is None:  # the settings refuse this; checked again for the type
            raise ValueError("IMAGE_SKILL_ASSET_STORE=s3 needs IMAGE_SKILL_S3_BUCKET")
        return S3AssetStore(
            S3Location(
                bucket=settings.s3_bucket,
                endpoint_url=settings.s3_endpoint_url,
                region=settings.s3_region,
                access_key_id=settings.s3_access_key_id,
                secret_access_key=secret.get_secret_value() if secret is not None else None,
                addressing_style=settings.s3_addressing_style,
                timeout_seconds=settings.s3_timeout_seconds,
            )
        )
    return LocalAssetStore(settings.home / "assets")
