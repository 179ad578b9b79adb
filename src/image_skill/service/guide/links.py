"""``recovery.docs_url`` points at the docs this service serves, when its address is known.

An error that names documentation used to link a fixed public site, which says
nothing about a self-hosted server's version. When the operator set
``IMAGE_SKILL_PUBLIC_BASE_URL``, the link becomes this service's own guide
(``/skill.md``, the same text ``image-skill skill`` prints); otherwise it is
left as the error made it.
"""

from __future__ import annotations

from typing import Any

GUIDE_PATH = "/skill.md"


def served_docs_url(public_base_url: str | None) -> str | None:
    """The URL of this service's agent guide, or None when its public address is unknown."""
    if not public_base_url:
        return None
    return public_base_url.rstrip("/") + GUIDE_PATH


def point_docs_here(error: dict[str, Any] | None, public_base_url: str | None) -> None:
    """Rewrite the error envelope's ``recovery.docs_url`` (if it has one) to the served guide."""
    recovery = (error or {}).get("recovery")
    served = served_docs_url(public_base_url)
    if isinstance(recovery, dict) and recovery.get("docs_url") and served:
        recovery["docs_url"] = served
