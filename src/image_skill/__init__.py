"""Image Skill: a creative runtime for AI agents (service + thin CLI/SDK)."""

from __future__ import annotations

# Not ``typing.TYPE_CHECKING``: importing typing would cost every ``--version`` probe.
TYPE_CHECKING = False

__version__ = "0.2.0"
__all__ = ["Client", "Result", "__version__"]

if TYPE_CHECKING:
    from typing import Any

    from image_skill.client import Client
    from image_skill.result import Result


def __getattr__(name: str) -> Any:
    # Lazy, so `image-skill --version` never pays for the SDK import.
    if name in ("Client", "Result"):
        from image_skill import client

        return getattr(client, name)
    raise AttributeError(name)
