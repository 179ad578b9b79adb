"""Public shapes of assets, and the URL each asset is served at."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from image_skill.contract.ids import iso
from image_skill.service.assets.signing import media_signature, signing_key
from image_skill.service.db.models import Asset
from image_skill.service.settings import Settings
from image_skill.service.storage.base import AssetStore


class AssetUrls:
    """Builds ``<media base>/a/<asset_id>.<ext>?sig=<token>`` (or file:// in embedded mode)."""

    def __init__(self, settings: Settings, store: AssetStore, request_base_url: str | None) -> None:
        # Without a configured base, a server answers with the URL it was called on.
        base = settings.media_base_url or settings.public_base_url
        if base is None and request_base_url is not None and not settings.embedded:
            base = request_base_url
        self.base = base.rstrip("/") if base else None
        self.store = store
        self.key = signing_key(settings)

    def url(self, asset: Asset) -> str:
        """Where the bytes can be fetched without a token: the URL carries its own signature."""
        if self.base is None:
            path = self.store.alias_path(asset.id, asset.extension)
            if path is not None:
                return path.resolve().as_uri()
        sig = media_signature(self.key, asset.id, asset.extension)
        return f"{self.base or ''}/a/{asset.id}.{asset.extension}?sig={sig}"


def asset_view(asset: Asset, urls: AssetUrls) -> dict[str, Any]:
    """Metadata of one asset; never its key, bucket or local path (except file:// URLs)."""
    url = urls.url(asset)
    return {
        "asset_id": asset.id,
        "job_id": asset.job_id,
        "kind": asset.kind,
        "url": url,
        "path": url,
        "mime_type": asset.mime_type,
        "content_length": asset.content_length,
        "width": asset.width,
        "height": asset.height,
        "sha256": asset.sha256,
        "created_at": iso(asset.created_at),
        "source": "hosted_metadata",
    }


class AssetView(BaseModel):
    """The public form ``asset_view`` builds (no key, bucket or local path)."""

    asset_id: str = Field(examples=["image_01m93fg2c0zphb068sz6q9q60n"])
    job_id: str | None
    kind: str = Field(description="generated (a create's output), edited (an edit's) or uploaded.")
    url: str = Field(description="Fetch without a token; file:// in embedded mode.")
    path: str = Field(
        description="The same as url (0.1.0 clients read either); never a local file path."
    )
    mime_type: str
    content_length: int
    width: int
    height: int
    sha256: str
    created_at: str
    source: Literal["hosted_metadata"] = Field(
        description="0.1.0's label for 'from this service's asset records', in every mode."
    )
    stand_in: bool | None = Field(
        default=None,
        description="Made by a stand-in model that does not follow the prompt "
        "(absent for uploads).",
    )


class AssetReference(BaseModel):
    """How the asset was asked for."""

    reference: str
    reference_type: Literal["asset_id"]


class AssetShown(BaseModel):
    """``GET /v1/assets/{asset_id}``."""

    request: AssetReference
    asset: AssetView


class AssetPage(BaseModel):
    """``GET /v1/assets``: newest first; pass ``next_cursor`` back for the next page."""

    assets: list[AssetView]
    next_cursor: str | None
