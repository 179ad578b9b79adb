"""A public description of where assets are kept (no paths, buckets or keys)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from image_skill.service.assets.schemas import AssetUrls
from image_skill.service.settings import Settings

_BACKENDS = {"local": "local_filesystem", "s3": "s3_compatible", "memory": "memory"}


def storage_view(settings: Settings, urls: AssetUrls) -> dict[str, Any]:
    """What an agent needs to know about artifact storage.

    ``url_scheme`` is the scheme of the asset URLs this same request would answer
    with (``file`` in embedded mode, else the media base's ``http`` or ``https``).
    """
    scheme = urlsplit(urls.base).scheme if urls.base else "file"
    return {
        "artifact_storage": "configured",
        "backend": _BACKENDS.get(settings.asset_store, settings.asset_store),
        "owned_asset_urls": True,
        "url_scheme": scheme,
    }
