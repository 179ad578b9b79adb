"""fal.ai image models over fal's queue API: ``fal.nano-banana-2-edit`` and ``fal.flux-dev``.

This module registers the models and runs one call end to end (or resumes one whose
executor died after the submit, or cancels one); the wire protocol (submit once,
poll, download, cancel) is in ``fal_queue`` and what each model accepts and costs
is in ``fal_params``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from image_skill.providers.base import (
    GeneratedImage,
    GenerationRequest,
    Model,
    content_refused,
    provider_failed,
)
from image_skill.providers.clients import key_digest, shared_client
from image_skill.providers.fal_params import (
    FLUX_DEV_ENDPOINT,
    FLUX_IMAGE_SIZES,
    FLUX_SCHEMA,
    NANO_ASPECT_RATIOS,
    NANO_EDIT_ENDPOINT,
    NANO_SCHEMA,
    flux_arguments,
    flux_price,
    nano_arguments,
    nano_price,
)
from image_skill.providers.fal_queue import (
    DOWNLOAD_TIMEOUT,
    KEY_ENV,
    cancel_request,
    download,
    handle_for,
    not_configured,
    submit,
    timeout,
    wait_for_result,
)
from image_skill.providers.hookspecs import hookimpl

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("image_skill.providers.fal")


@dataclass
class FalImageModel(Model):
    """A fal queue endpoint, its argument builder and its price."""

    sdk_modules: tuple[str, ...] = ("fal_client",)
    endpoint: str = ""
    arguments_for: Callable[[GenerationRequest], dict[str, Any]] | None = None
    price_for: Callable[[dict[str, Any]], float] | None = None
    supports_resume = True
    supports_cancel = True

    def estimate_usd_per_image(self, parameters: dict[str, Any]) -> float | None:
        return None if self.price_for is None else round(self.price_for(parameters), 6)

    def output_count(self, parameters: dict[str, Any]) -> int:
        return int(parameters.get("num_images", 1))

    async def generate(self, request: GenerationRequest) -> list[GeneratedImage]:
        fal = _queue_client()
        if self.arguments_for is None:
            raise provider_failed("fal model is missing its argument builder.", retryable=False)
        arguments = self.arguments_for(request)
        handle = await submit(fal, self.endpoint, arguments)
        log.info("fal request submitted", extra={"fal_request_id": handle.request_id})
        if request.record_provider_request is not None:
            await request.record_provider_request(handle.request_id)
        result = await wait_for_result(handle)
        return await self._outputs(result)

    async def resume(
        self, provider_request_id: str, request: GenerationRequest
    ) -> list[GeneratedImage]:
        fal = _queue_client()
        log.info("fal request resumed", extra={"fal_request_id": provider_request_id})
        result = await wait_for_result(handle_for(fal, self.endpoint, provider_request_id))
        return await self._outputs(result)

    async def cancel(self, provider_request_id: str) -> bool:
        return await cancel_request(_queue_client(), self.endpoint, provider_request_id)

    async def _outputs(self, result: dict[str, Any]) -> list[GeneratedImage]:
        entries = result.get("images")
        if not isinstance(entries, list) or not entries:
            raise provider_failed("fal returned no image.")
        flags = result.get("has_nsfw_concepts")
        flagged = flags if isinstance(flags, list) else []
        kept = [
            entry
            for index, entry in enumerate(entries)
            if not (index < len(flagged) and flagged[index] is True)
        ]
        if not kept:
            raise content_refused("fal's safety checker withheld every image.")
        http = _download_client()
        return [
            await download(http, str(entry.get("url", "")) if isinstance(entry, dict) else "")
            for entry in kept
        ]


def _queue_client() -> httpx.AsyncClient:
    """The shared client for fal's queue with the current key (providers/clients.py)."""
    import httpx

    key = os.environ.get(KEY_ENV, "").strip()
    if not key:
        raise not_configured(f"{KEY_ENV} is not set.")
    headers = {"Authorization": f"Key {key}", "User-Agent": "image-skill"}
    return shared_client(
        ("fal-queue", key_digest(key)),
        lambda: httpx.AsyncClient(headers=headers, follow_redirects=False),
        _closer,
    )


def _download_client() -> httpx.AsyncClient:
    """The shared client outputs are fetched with (no credentials: outputs are public URLs)."""
    import httpx

    return shared_client(
        ("fal-download",),
        lambda: httpx.AsyncClient(timeout=timeout(DOWNLOAD_TIMEOUT), follow_redirects=True),
        _closer,
    )


def _closer(client: httpx.AsyncClient) -> Callable[[], Awaitable[None]]:
    return client.aclose


def build_models() -> list[Model]:
    """The fal models."""
    nano = FalImageModel(
        model_id="fal.nano-banana-2-edit",
        provider="fal",
        display_name="Nano Banana 2 edit (fal)",
        description="Google's Nano Banana 2 image editing via fal: edits an input image "
        "from a prompt; good text rendering and subject consistency.",
        operations=("edit",),
        parameters_schema=NANO_SCHEMA,
        media_inputs=("text/plain", "image/png", "image/jpeg", "image/webp"),
        media_outputs=("image/png", "image/jpeg", "image/webp"),
        aspect_ratios=NANO_ASPECT_RATIOS,
        output_formats=("png", "jpeg", "webp"),
        fixed_controls={"input_images": 1},
        pricing_confidence="known",
        latency_class="interactive",
        safety={"moderation": "service_prompt_policy", "provider_moderation": True},
        migration_hints=("seed, num_images and aspect_ratio carry over to other edit models.",),
        required_env=(KEY_ENV,),
        max_outputs=4,
        endpoint=NANO_EDIT_ENDPOINT,
        arguments_for=nano_arguments,
        price_for=nano_price,
    )
    flux = FalImageModel(
        model_id="fal.flux-dev",
        provider="fal",
        display_name="FLUX.1 [dev] (fal)",
        description="Black Forest Labs' 12B FLUX.1 [dev] text-to-image via fal.",
        operations=("create",),
        parameters_schema=FLUX_SCHEMA,
        media_inputs=("text/plain",),
        media_outputs=("image/jpeg", "image/png"),
        aspect_ratios=tuple(FLUX_IMAGE_SIZES),
        output_formats=("jpeg", "png"),
        fixed_controls={"max_megapixels": 1},
        pricing_confidence="known",
        latency_class="interactive",
        safety={"moderation": "service_prompt_policy", "provider_moderation": True},
        migration_hints=("seed, num_images and aspect_ratio carry over to other create models.",),
        required_env=(KEY_ENV,),
        max_outputs=4,
        endpoint=FLUX_DEV_ENDPOINT,
        arguments_for=flux_arguments,
        price_for=flux_price,
    )
    return [nano, flux]


@hookimpl
def register_providers(register: Callable[[Model], None]) -> None:
    """Register the fal models."""
    for model in build_models():
        register(model)
