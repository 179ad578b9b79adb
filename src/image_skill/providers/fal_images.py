"""fal.ai image models over fal's queue API: ``fal.nano-banana-2-edit`` and ``fal.flux-dev``.

One call is: a single submit (``POST {queue}/{endpoint}``, never retried, so a job is
billed at most once) -> the fal request id recorded on our job -> polling through
``fal_client.AsyncRequestHandle`` (status/result retries are safe) -> each output
URL downloaded (bounded, http(s) only) and handed to the pipeline, which stores it.
Output URLs are never returned or logged.

``fal_client.AsyncClient.submit`` is deliberately not used for the submit: it retries
the POST on timeouts and transport errors, which can enqueue (and bill) twice.
The queue host follows fal_client's ``FAL_QUEUE_RUN_HOST`` but is read per call
(fal_client reads it once at import); loopback hosts use plain http so a local
fake can stand in for fal.
"""

from __future__ import annotations

import base64
import io
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
from PIL import Image

from image_skill.contract.errors import ErrorCode, ImageSkillError, invalid_arguments
from image_skill.providers.base import (
    EXECUTION_KEY,
    GeneratedImage,
    GenerationRequest,
    Model,
    ProviderError,
    content_refused,
    provider_failed,
)
from image_skill.providers.hookspecs import hookimpl

if TYPE_CHECKING:
    from fal_client import AsyncRequestHandle

log = logging.getLogger("image_skill.providers.fal")

KEY_ENV = "FAL_KEY"
QUEUE_HOST_ENV = "FAL_QUEUE_RUN_HOST"
DEFAULT_QUEUE_HOST = "queue.fal.run"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
POLL_INTERVAL_SECONDS = 0.25
MAX_OUTPUT_BYTES = 50 * 1024 * 1024
DEFAULT_RETRY_AFTER_SECONDS = 10
SUBMIT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
DOWNLOAD_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
MIME_BY_PIL = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
CONTENT_POLICY_TYPES = ("content_policy_violation", "content_policy", "nsfw")

NANO_EDIT_ENDPOINT = "fal-ai/nano-banana-2/edit"
FLUX_DEV_ENDPOINT = "fal-ai/flux/dev"

# fal's published prices (fal.ai/models/<endpoint>; "subject to change").
NANO_USD_PER_IMAGE = 0.08
NANO_RESOLUTION_FACTOR = {"0.5K": 0.75, "1K": 1.0, "2K": 1.5, "4K": 2.0}
NANO_WEB_SEARCH_USD = 0.015
NANO_HIGH_THINKING_USD = 0.002
FLUX_USD_PER_MEGAPIXEL = 0.025  # billed per megapixel, rounded up; every preset is <= 1 MP

NANO_ASPECT_RATIOS = (
    "auto", "1:1", "21:9", "16:9", "3:2", "4:3", "5:4", "4:5", "3:4", "2:3", "9:16",
    "4:1", "1:4", "8:1", "1:8",
)  # fmt: skip
FLUX_IMAGE_SIZES = {
    "1:1": "square_hd",
    "4:3": "landscape_4_3",
    "3:4": "portrait_4_3",
    "16:9": "landscape_16_9",
    "9:16": "portrait_16_9",
}


def _schema(title: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
    }


def _seed() -> dict[str, Any]:
    return {
        "type": "integer",
        "minimum": 0,
        "maximum": 4294967295,
        "description": "Same prompt + seed + inputs: same image on the same model version.",
        EXECUTION_KEY: "executable",
    }


def _num_images() -> dict[str, Any]:
    return {
        "type": "integer",
        "minimum": 1,
        "maximum": 4,
        "default": 1,
        "description": "Images per call; each is billed.",
        EXECUTION_KEY: "executable",
    }


NANO_SCHEMA = _schema(
    "fal.nano-banana-2-edit model_parameters",
    {
        "seed": _seed(),
        "num_images": _num_images(),
        "resolution": {
            "enum": list(NANO_RESOLUTION_FACTOR),
            "default": "1K",
            "description": "Output resolution; 0.5K bills 0.75x, 2K 1.5x, 4K 2x.",
            EXECUTION_KEY: "executable",
        },
        "safety_tolerance": {
            "enum": ["1", "2", "3", "4", "5", "6"],
            "description": "Provider moderation level, 1 strictest to 6 most permissive.",
            EXECUTION_KEY: "executable",
        },
        "limit_generations": {
            "type": "boolean",
            "description": "Limit to one generation per prompt round.",
            EXECUTION_KEY: "executable",
        },
        "enable_web_search": {
            "type": "boolean",
            "description": "Let the model ground on web search (+$0.015).",
            EXECUTION_KEY: "executable",
        },
        "thinking_level": {
            "enum": ["minimal", "high"],
            "description": "Model thinking; 'high' adds $0.002.",
            EXECUTION_KEY: "executable",
        },
        "sync_mode": {
            "type": "boolean",
            "description": "fal returns data URIs and keeps no request history; refused, "
            "because a timed-out job could then never be recovered.",
            EXECUTION_KEY: "planning_only",
        },
    },
)

FLUX_SCHEMA = _schema(
    "fal.flux-dev model_parameters",
    {
        "seed": _seed(),
        "num_images": _num_images(),
        "num_inference_steps": {
            "type": "integer",
            "minimum": 1,
            "maximum": 50,
            "default": 28,
            "description": "More steps: higher quality, slower.",
            EXECUTION_KEY: "executable",
        },
        "guidance_scale": {
            "type": "number",
            "minimum": 1,
            "maximum": 20,
            "default": 3.5,
            "description": "How closely to follow the prompt (CFG scale).",
            EXECUTION_KEY: "executable",
        },
        "enable_safety_checker": {
            "type": "boolean",
            "default": True,
            "description": "fal's NSFW checker; flagged images are withheld.",
            EXECUTION_KEY: "executable",
        },
        "acceleration": {
            "enum": ["none", "regular", "high"],
            "default": "none",
            "description": "Faster generation at some quality cost.",
            EXECUTION_KEY: "executable",
        },
        "image_size": {
            "description": "fal's custom {width, height}; not executed here: choose "
            "aspect_ratio (mapped to fal's <= 1 MP presets) so the price stays known.",
            EXECUTION_KEY: "planning_only",
        },
        "sync_mode": {
            "type": "boolean",
            "description": "fal returns data URIs and keeps no request history; refused.",
            EXECUTION_KEY: "planning_only",
        },
    },
)


# --- the wire ----------------------------------------------------------------------------


def queue_base_url() -> str:
    """``https://{FAL_QUEUE_RUN_HOST}`` (plain http only for a loopback host)."""
    host = os.environ.get(QUEUE_HOST_ENV, "").strip() or DEFAULT_QUEUE_HOST
    loopback = host.split(":")[0] in LOOPBACK_HOSTS or host.startswith("[::1]")
    return f"{'http' if loopback else 'https'}://{host}"


def _not_configured(message: str) -> ProviderError:
    return ProviderError(
        ErrorCode.MODEL_NOT_CONFIGURED,
        message,
        details={"env": KEY_ENV},
        recovery={"how_to_enable": f"set a valid {KEY_ENV} in the service environment"},
    )


def _retry_after(headers: httpx.Headers | dict[str, str]) -> int:
    value = headers.get("retry-after") or headers.get("Retry-After")
    try:
        return max(1, min(3600, int(float(value)))) if value else DEFAULT_RETRY_AFTER_SECONDS
    except ValueError:
        return DEFAULT_RETRY_AFTER_SECONDS


def _is_content_policy(body: Any, headers: httpx.Headers | dict[str, str]) -> bool:
    kinds: list[str] = [str(headers.get("x-fal-error-type") or "")]
    if isinstance(body, dict):
        kinds.append(str(body.get("error_type") or ""))
        detail = body.get("detail")
        items = detail if isinstance(detail, list) else [detail]
        kinds += [str(item.get("type", "")) for item in items if isinstance(item, dict)]
    return any(kind.lower().startswith(CONTENT_POLICY_TYPES) for kind in kinds if kind)


def error_for_status(status: int, body: Any, headers: httpx.Headers | dict[str, str]) -> Exception:
    """One of our errors for a fal HTTP error response (never echoing fal's text)."""
    if status in (401, 403):
        return _not_configured(f"fal rejected the key in {KEY_ENV} (HTTP {status}).")
    if status == 429:
        wait = _retry_after(headers)
        return ProviderError(
            ErrorCode.PROVIDER_UNAVAILABLE,
            "fal is rate limiting this service; retry later.",
            retryable=True,
            recovery={"retry_after_seconds": wait},
        )
    if _is_content_policy(body, headers):
        return content_refused("fal's content policy refused this request.")
    if status >= 500:
        return provider_failed(f"fal failed (HTTP {status}).")
    return provider_failed(f"fal refused the request (HTTP {status}).", retryable=False)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _checked_url(value: Any) -> str:
    url = str(value or "")
    if not url.startswith(("https://", "http://")):
        raise provider_failed("fal answered with an unusable URL.")
    return url


async def submit(
    http: httpx.AsyncClient, endpoint: str, arguments: dict[str, Any]
) -> AsyncRequestHandle:
    """Enqueue once; never retried (a retry after an accepted submit would bill twice)."""
    try:
        response = await http.post(
            f"{queue_base_url()}/{endpoint}", json=arguments, timeout=SUBMIT_TIMEOUT
        )
    except httpx.ConnectError as exc:  # nothing reached fal: safe to retry later
        raise ProviderError(
            ErrorCode.PROVIDER_UNAVAILABLE,
            "fal could not be reached.",
            retryable=True,
            recovery={"retry_after_seconds": DEFAULT_RETRY_AFTER_SECONDS},
        ) from exc
    except httpx.TimeoutException as exc:
        raise ImageSkillError(
            ErrorCode.PROVIDER_TIMEOUT, "fal did not accept the request in time.", retryable=True
        ) from exc
    except httpx.HTTPError as exc:
        raise provider_failed("The request to fal failed.") from exc
    if response.status_code >= 400:
        raise error_for_status(response.status_code, _json(response), response.headers)
    data = _json(response)
    if not isinstance(data, dict) or not data.get("request_id"):
        raise provider_failed("fal answered the submit without a request id.")
    from fal_client import AsyncRequestHandle  # imported on use, like the OpenAI SDK

    return AsyncRequestHandle(
        request_id=str(data["request_id"]),
        response_url=_checked_url(data.get("response_url")),
        status_url=_checked_url(data.get("status_url")),
        cancel_url=_checked_url(data.get("cancel_url") or data.get("response_url")),
        client=http,
    )


async def wait_for_result(handle: AsyncRequestHandle) -> dict[str, Any]:
    """Poll until COMPLETED and fetch the result (fal_client retries the polls)."""
    from fal_client.client import FalClientHTTPError

    try:
        result = await handle.get(interval=POLL_INTERVAL_SECONDS)
    except FalClientHTTPError as exc:
        raise error_for_status(exc.status_code, _json(exc.response), exc.response_headers) from None
    except httpx.TimeoutException as exc:
        raise ImageSkillError(
            ErrorCode.PROVIDER_TIMEOUT, "fal did not answer in time.", retryable=True
        ) from exc
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        raise provider_failed("Polling fal for the result failed.") from exc
    if not isinstance(result, dict):
        raise provider_failed("fal returned an unreadable result.")
    return result


async def download(http: httpx.AsyncClient, url: str) -> GeneratedImage:
    """One output, bounded in size, checked to be an image we can read."""
    if not url.startswith(("https://", "http://")):
        raise provider_failed("fal returned an output that is not an http(s) URL.")
    chunks: list[bytes] = []
    size = 0
    try:
        async with http.stream("GET", url) as response:
            if response.status_code >= 400:
                raise provider_failed(
                    f"Fetching fal's output failed (HTTP {response.status_code})."
                )
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > MAX_OUTPUT_BYTES:
                raise provider_failed("fal's output is larger than this service accepts.")
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_OUTPUT_BYTES:
                    raise provider_failed("fal's output is larger than this service accepts.")
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise provider_failed("Fetching fal's output failed.") from exc
    data = b"".join(chunks)
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height, fmt = image.width, image.height, image.format or ""
    except Exception as exc:  # not an image we can read
        raise provider_failed("fal's output is not a readable image.") from exc
    mime = MIME_BY_PIL.get(fmt)
    if mime is None:
        raise provider_failed("fal's output is in an unsupported image format.")
    return GeneratedImage(data, mime, width, height)


# --- the models --------------------------------------------------------------------------


@dataclass
class FalImageModel(Model):
    """A fal queue endpoint, its argument builder and its price."""

    sdk_modules: tuple[str, ...] = ("fal_client",)
    endpoint: str = ""
    arguments_for: Callable[[GenerationRequest], dict[str, Any]] | None = None
    price_for: Callable[[dict[str, Any]], float] | None = None

    def estimate_usd_per_image(self, parameters: dict[str, Any]) -> float | None:
        return None if self.price_for is None else round(self.price_for(parameters), 6)

    def output_count(self, parameters: dict[str, Any]) -> int:
        return int(parameters.get("num_images", 1))

    async def generate(self, request: GenerationRequest) -> list[GeneratedImage]:
        key = os.environ.get(KEY_ENV, "").strip()
        if not key:
            raise _not_configured(f"{KEY_ENV} is not set.")
        if self.arguments_for is None:
            raise provider_failed("fal model is missing its argument builder.", retryable=False)
        arguments = self.arguments_for(request)
        headers = {"Authorization": f"Key {key}", "User-Agent": "image-skill"}
        async with httpx.AsyncClient(headers=headers, follow_redirects=False) as fal:
            handle = await submit(fal, self.endpoint, arguments)
            log.info("fal request submitted", extra={"fal_request_id": handle.request_id})
            if request.record_provider_request is not None:
                await request.record_provider_request(handle.request_id)
            result = await wait_for_result(handle)
        return await self._outputs(result)

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
        async with httpx.AsyncClient(timeout=DOWNLOAD_TIMEOUT, follow_redirects=True) as http:
            return [
                await download(http, str(entry.get("url", "")) if isinstance(entry, dict) else "")
                for entry in kept
            ]


def _data_uri(data: bytes) -> str:
    with Image.open(io.BytesIO(data)) as image:
        mime = MIME_BY_PIL.get(image.format or "", "image/png")
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def nano_arguments(request: GenerationRequest) -> dict[str, Any]:
    """fal-ai/nano-banana-2/edit input (the input image inlined as a data URI)."""
    if not request.input_images:
        raise invalid_arguments("An input image is required to edit.", field="input_asset_id")
    arguments: dict[str, Any] = {
        "prompt": request.prompt,
        "image_urls": [_data_uri(data) for data in request.input_images],
        "aspect_ratio": request.aspect_ratio or "auto",
    }
    if request.output_format:
        arguments["output_format"] = request.output_format
    # Validated against the schema before any spend: only its executable fields remain,
    # and they carry fal's own names.
    arguments.update(request.parameters)
    return arguments


def nano_price(parameters: dict[str, Any]) -> float:
    """$0.08 at 1K, scaled by resolution, plus web search / high thinking surcharges."""
    price = NANO_USD_PER_IMAGE * NANO_RESOLUTION_FACTOR[str(parameters.get("resolution", "1K"))]
    if parameters.get("enable_web_search"):
        price += NANO_WEB_SEARCH_USD
    if parameters.get("thinking_level") == "high":
        price += NANO_HIGH_THINKING_USD
    return price


def flux_arguments(request: GenerationRequest) -> dict[str, Any]:
    """fal-ai/flux/dev input."""
    arguments: dict[str, Any] = {
        "prompt": request.prompt,
        "image_size": FLUX_IMAGE_SIZES.get(request.aspect_ratio, "square_hd"),
    }
    if request.output_format:
        arguments["output_format"] = request.output_format
    # Validated against the schema before any spend: only its executable fields remain,
    # and they carry fal's own names.
    arguments.update(request.parameters)
    return arguments


def flux_price(parameters: dict[str, Any]) -> float:
    """$0.025 per (rounded-up) megapixel; every preset we send is at most 1 MP."""
    return FLUX_USD_PER_MEGAPIXEL


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
