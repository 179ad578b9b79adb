"""Everything the request handlers share for the life of the app."""

from __future__ import annotations

import difflib
import os
import secrets
import socket
import weakref
from dataclasses import dataclass, field

import anyio
from sqlalchemy.ext.asyncio import AsyncEngine

from image_skill.contract.errors import ErrorCode, ImageSkillError
from image_skill.providers.base import Model
from image_skill.service.catalog.pricing import PricingPolicy
from image_skill.service.creative.prompt_rules import PromptPolicy
from image_skill.service.jobs.queue import WorkQueue
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
    # Set by whatever composes the app (inline, in-process or PostgreSQL queue).
    queue: WorkQueue | None = None
    worker_id: str = field(default_factory=_worker_id)
    provider_limiters: dict[str, anyio.CapacityLimiter] = field(default_factory=dict)
    account_locks: weakref.WeakValueDictionary[str, anyio.Lock] = field(
        default_factory=weakref.WeakValueDictionary
    )
    _admission_gate: anyio.CapacityLimiter | None = None
    _decode_pool: anyio.CapacityLimiter | None = None

    @property
    def admission_gate(self) -> anyio.CapacityLimiter:
        """The places for creative requests' own work (``settings.admission_concurrency``)."""
        if self._admission_gate is None:
            self._admission_gate = anyio.CapacityLimiter(self.settings.admission_concurrency)
        return self._admission_gate

    @property
    def decode_pool(self) -> anyio.CapacityLimiter:
        """Worker-thread slots for decoding uploaded images (``settings.image_decode_concurrency``).

        A hostile upload costs CPU and memory while it is decoded; a small pool per
        process keeps a flood of them from starving everyone else's requests.
        """
        if self._decode_pool is None:
            self._decode_pool = anyio.CapacityLimiter(self.settings.image_decode_concurrency)
        return self._decode_pool

    def model(self, model_id: str, *, field: str | None = None) -> Model:
        """The registered model ``model_id``, or MODEL_NOT_FOUND pointing at the list."""
        model = self.models.get(model_id)
        if model is None:
            close = difflib.get_close_matches(model_id, list(self.models), n=1, cutoff=0.6)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            command = f"image-skill models show {close[0]} --json" if close else None
            raise ImageSkillError(
                ErrorCode.MODEL_NOT_FOUND,
                f"No model '{model_id[:100]}'.{hint}",
                details={"field": field} if field else None,
                recovery={"suggested_command": command or "image-skill models list --json"},
            )
        return model

    def provider_limiter(self, provider: str) -> anyio.CapacityLimiter:
        """The slots for ``provider``'s generate calls in this process (made on first use).

        Created lazily, inside the running event loop, with the limit from
        ``settings.provider_concurrency_for(provider)``.
        """
        limiter = self.provider_limiters.get(provider)
        if limiter is None:
            limit = self.settings.provider_concurrency_for(provider)
            limiter = self.provider_limiters[provider] = anyio.CapacityLimiter(limit)
        return limiter

    def account_lock(self, actor_id: str) -> anyio.Lock:
        """The in-process queue for one account's admissions (dropped once unused)."""
        lock = self.account_locks.get(actor_id)
        if lock is None:
            lock = anyio.Lock()
            self.account_locks[actor_id] = lock
        return lock
