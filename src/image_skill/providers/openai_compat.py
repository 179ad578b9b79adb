"""Shared plumbing for providers that speak OpenAI's Images wire format.

Used by ``openai_images`` (OpenAI) and ``xai_images`` (xAI's OpenAI-compatible
endpoint). Everything a vendor says is mapped here, at the boundary, to one of
our error codes; keys, upstream URLs and raw vendor payloads never travel
further than the log.

Retries are deliberately narrow: a call is retried only when it cannot have
produced a billed image -- the connection was refused before the request was
sent, or the vendor answered 429 with a short ``Retry-After``. A timeout or a
5xx is never retried for the same job (the image may exist and be billed).
"""

from __future__ import annotations

import binascii
import io
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
import orjson
import pybase64
from PIL import Image, UnidentifiedImageError

from image_skill.contract.errors import ErrorCode, ImageSkillError, retry_later
from image_skill.providers.base import GeneratedImage, ProviderError, provider_failed
from image_skill.providers.clients import key_digest, shared_client

if TYPE_CHECKING:
    import httpx
    import openai

# The SDK (and httpx, which it brings) is imported where a call is made, not here:
# importing it costs ~0.7 s, which every embedded CLI call would pay just to list
# these models. A server imports it at start-up when a model using it is
# configured (Model.sdk_modules).

log = logging.getLogger("image_skill.providers.openai_compat")

MAX_ATTEMPTS = 3
RETRY_AFTER_CAP_SECONDS = 5.0
CONNECT_RETRY_DELAY_SECONDS = 0.2
DEFAULT_RETRY_AFTER_SECONDS = 30
CLIENT_TIMEOUT_SECONDS = 600.0  # the pipeline's provider_timeout_seconds is the real bound
MODERATION_CODES = frozenset({"moderation_blocked", "content_policy_violation"})
MIME_BY_PIL_FORMAT = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}


@dataclass(frozen=True)
class Vendor:
    """Who we are talking to, for client construction and error messages."""

    name: str  # human name, e.g. "OpenAI"
    key_env: str  # e.g. OPENAI_API_KEY
    base_url_env: str  # e.g. OPENAI_BASE_URL
    default_base_url: str | None  # None: the SDK's default

    def client(self) -> openai.AsyncOpenAI:
        """The shared client for the current key and base URL, SDK retries off (we retry
        ourselves, narrowly); built on first use, reused after (providers/clients.py)."""
        key = os.environ.get(self.key_env)
        if not key:
            raise not_configured(self, f"{self.key_env} is not set.")
        base_url = os.environ.get(self.base_url_env) or self.default_base_url
        config = ("openai-sdk", self.name, base_url, key_digest(key), CLIENT_TIMEOUT_SECONDS)
        return shared_client(config, lambda: _build_client(key, base_url), _closer)


def _build_client(key: str, base_url: str | None) -> openai.AsyncOpenAI:
    import openai

    return openai.AsyncOpenAI(
        api_key=key, base_url=base_url, timeout=CLIENT_TIMEOUT_SECONDS, max_retries=0
    )


def _closer(client: openai.AsyncOpenAI) -> Callable[[], Awaitable[None]]:
    return client.close


def not_configured(vendor: Vendor, reason: str) -> ImageSkillError:
    """MODEL_NOT_CONFIGURED naming the variable to set (never its value)."""
    return ImageSkillError(
        ErrorCode.MODEL_NOT_CONFIGURED,
        f"{vendor.name} refused this service's credentials: {reason} "
        f"Set a valid {vendor.key_env} in the service environment.",
        details={"missing_env": [vendor.key_env], "provider": vendor.name.lower()},
        recovery={"suggested_command": "image-skill models list --json"},
    )


def _error_code(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            for key in ("code", "type"):
                value = inner.get(key)
                if isinstance(value, str) and value:
                    return value
    code = getattr(exc, "code", None)
    return code if isinstance(code, str) else ""


def retry_after_seconds(response: httpx.Response | None) -> float | None:
    """Seconds the vendor asked us to wait (``retry-after-ms`` or ``retry-after``)."""
    if response is None:
        return None
    headers = response.headers
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            value = float(raw) * scale
        except ValueError:
            continue
        if value >= 0:
            return value
    return None


def map_error(vendor: Vendor, exc: openai.OpenAIError) -> ImageSkillError:
    """One of our codes for a vendor failure (vendor text goes to the log only)."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return ImageSkillError(
            ErrorCode.PROVIDER_TIMEOUT, f"{vendor.name} did not answer in time.", retryable=True
        )
    if isinstance(exc, openai.APIConnectionError):
        return retry_later(
            ErrorCode.PROVIDER_UNAVAILABLE, f"{vendor.name} could not be reached.", seconds=5
        )
    if not isinstance(exc, openai.APIStatusError):
        return provider_failed(f"{vendor.name} returned an unusable answer.")
    status = exc.status_code
    code = _error_code(exc)
    log.warning(
        "upstream error",
        extra={"vendor": vendor.name, "status": status, "vendor_code": code[:100]},
    )
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return not_configured(vendor, f"HTTP {status}.")
    if isinstance(exc, openai.RateLimitError) or status == 429:
        wait = retry_after_seconds(exc.response)
        quota = code == "insufficient_quota"
        return ImageSkillError(
            ErrorCode.PROVIDER_UNAVAILABLE,
            f"{vendor.name} is rate limiting this service"
            + (" (its account quota is exhausted)." if quota else "."),
            retryable=True,
            recovery={
                "retry_after_seconds": max(1, round(wait))
                if wait is not None
                else DEFAULT_RETRY_AFTER_SECONDS
            },
        )
    if code in MODERATION_CODES:
        return ProviderError(
            ErrorCode.CONTENT_POLICY_DENIED,
            f"{vendor.name}'s own moderation refused this request (not this service's "
            "policy). Rephrase the prompt or change the input image.",
            details={"moderation": "provider", "provider": vendor.name.lower()},
        )
    if status >= 500:
        return provider_failed(f"{vendor.name} failed (HTTP {status}).", retryable=True)
    return provider_failed(
        f"{vendor.name} rejected the request (HTTP {status}); check the model's "
        "parameters with `image-skill models show`.",
        retryable=False,
    )


def _worth_retrying(exc: openai.OpenAIError) -> float | None:
    """Seconds to wait before retrying, or None when a retry could double-bill."""
    import httpx
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return None
    if isinstance(exc, openai.APIConnectionError):
        # Only a refused/failed connect means the request was never sent.
        return (
            CONNECT_RETRY_DELAY_SECONDS if isinstance(exc.__cause__, httpx.ConnectError) else None
        )
    if isinstance(exc, openai.RateLimitError) and _error_code(exc) != "insufficient_quota":
        wait = retry_after_seconds(exc.response)
        if wait is not None and wait <= RETRY_AFTER_CAP_SECONDS:
            return wait
    return None


async def call(vendor: Vendor, attempt: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``attempt`` with the bounded, no-double-billing retry policy; map failures."""
    import openai

    for number in range(1, MAX_ATTEMPTS + 1):
        try:
            return await attempt()
        except openai.OpenAIError as exc:
            wait = _worth_retrying(exc)
            if wait is None or number == MAX_ATTEMPTS:
                raise map_error(vendor, exc) from None
            await anyio.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


def decode_images(vendor: Vendor, response: Any) -> list[GeneratedImage]:
    """``data[].b64_json`` of a raw images response as images (dimensions and type read
    by Pillow).

    Calls go through the SDK's ``with_raw_response`` and the body is parsed here with
    orjson: a provider-sized image is 3 MB of JSON, which the SDK's own parse (the
    standard library's json, then its models) took about 9 ms of the event loop to read.
    """
    try:
        body = orjson.loads(response.http_response.content)
    except orjson.JSONDecodeError:
        raise provider_failed(f"{vendor.name} returned a body that is not JSON.") from None
    items = body.get("data") if isinstance(body, dict) else None
    images = []
    for item in items if isinstance(items, list) else []:
        encoded = item.get("b64_json") if isinstance(item, dict) else None
        if not encoded or not isinstance(encoded, str):
            raise provider_failed(f"{vendor.name} returned an image without inline bytes.")
        try:
            data = pybase64.b64decode(encoded, validate=True)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                mime = MIME_BY_PIL_FORMAT.get(image.format or "", "image/png")
        except (binascii.Error, ValueError, UnidentifiedImageError, OSError):
            raise provider_failed(f"{vendor.name} returned bytes that are not an image.") from None
        images.append(GeneratedImage(data, mime, width, height))
    return images


async def record_request_id(response: Any, record: Callable[[str], Awaitable[None]] | None) -> None:
    """Store the vendor's request id (of a raw response) on our job, when both exist."""
    request_id = getattr(response, "request_id", None)
    if record is not None and isinstance(request_id, str) and request_id:
        await record(request_id)
