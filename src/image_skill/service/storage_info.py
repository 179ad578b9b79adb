"""A public description of where assets are kept (no paths, buckets or keys)."""

from __future__ import annotations

from typing import Any

from image_skill.service.settings import Settings


def storage_view(settings: Settings) -> dict[str, Any]:
    """What an agent needs to know about artifact storage."""
    return {
        "artifact_storage": "configured",
        "backend": "local_filesystem",
        "owned_asset_urls": True,
        "url_scheme": "file" if settings.embedded and not settings.media_base_url else "https",
    }
