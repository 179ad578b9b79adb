"""Everything the request handlers share for the life of the app."""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from image_skill.providers.base import Model
from image_skill.service.catalog.pricing import PricingPolicy
from image_skill.service.creative.policy import PromptPolicy
from image_skill.service.settings import Settings
from image_skill.service.storage.base import AssetStore


def _worker_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass
class Runtime:
    """Settings, database, store, models and policies of one running app."""

    settings: Settings
    engine: AsyncEngine
    store: AssetStore
    models: dict[str, Model]
    pricing: PricingPolicy
    prompt_policy: PromptPolicy
    worker_id: str = field(default_factory=_worker_id)
