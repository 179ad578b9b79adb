"""fal's queue API on the wire: submit once, poll for the result, download the outputs.

One call is: a single submit (``POST {queue}/{endpoint}``, never retried, so a job is
billed at most once) -> the fal request id recorded on our job -> polling through
``fal_client.AsyncRequestHandle`` (status/result retries are safe) -> each output
URL downloaded (bounded, http(s) only) and handed to the pipeline, which stores it.
Output URLs are never returned or logged. Because the request id is recorded before
polling, a job whose executor died can be resumed from it (``handle_for``: poll the
same request again, no second submit), and a canceled job canceled at fal
(``cancel``: ``PUT {queue}/{owner}/{app}/requests/{id}/cancel``).

``fal_client.AsyncClient.submit`` is deliberately not used for the submit: it retries
the POST on timeouts and transport errors, which can enqueue (and bill) twice.
The queue host follows fal_client's ``FAL_QUEUE_RUN_HOST`` but is read per call
(fal_client reads it once at import); loopback hosts use plain http so a local
fake can stand in for fal. Every fal failure becomes one of our errors here.
"""

from __future__ import annotations

import io
import os
import re
from typing import TYPE_CHECKING, Any

from PIL import Image

from image_skill.contract.errors import ErrorCode, ImageSkillError
from image_skill.providers.base import (
    GeneratedImage,
    ProviderError,
    content_refused,
    provider_failed,
)

if TYPE_CHECKING:
    import httpx
    from fal_client import AsyncRequestHandle

# httpx is imported with the first call (fal_client, warmed up by a server, brings it
# too): registering the fal models must not cost the embedded CLI an HTTP stack.

KEY_ENV = "FAL_KEY"
QUEUE_HOST_ENV = "FAL_QUEUE_RUN_HOST"
DEFAULT_QUEUE_HOST = "queue.fal.run"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
POLL_INTERVAL_SECONDS = 0.25
MAX_OUTPUT_BYTES = 50 * 1024 * 1024
DEFAULT_RETRY_AFTER_SECONDS = 10
# (overall, connect) seconds, made into an ``httpx.Timeout`` by ``timeout``.
SUBMIT_TIMEOUT = (60.0, 10.0)
DOWNLOAD_TIMEOUT = (60.0, 10.0)
MIME_BY_PIL = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
CONTENT_POLICY_TYPES = ("content_policy_violation", "content_policy", "nsfw")
CANCEL_TIMEOUT = (10.0, 5.0)
# fal request ids are UUID-like; anything else never goes into a URL path.
_REQUEST_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def timeout(seconds: tuple[float, float]) -> httpx.Timeout:
    """The ``httpx.Timeout`` for an (overall, connect) pair of seconds."""
    import httpx

    overall, connect = seconds
    return httpx.Timeout(overall, connect=connect)


def queue_base_url() -> str:
    """``https://{FAL_QUEUE_RUN_HOST}`` (plain http only for a loopback host)."""
    host = os.environ.get(QUEUE_HOST_ENV, "").strip() or DEFAULT_QUEUE_HOST
    loopback = host.split(":")[0] in LOOPBACK_HOSTS or host.startswith("[::1]")
    return f"{'http' if loopback else 'https'}://{host}"


def not_configured(message: str) -> ProviderError:
    """The error for a missing or rejected ``FAL_KEY``."""
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
        return not_configured(f"fal rejected the key in {KEY_ENV} (HTTP {status}).")
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
    import httpx

    try:
        response = await http.post(
            f"{queue_base_url()}/{endpoint}", json=arguments, timeout=timeout(SUBMIT_TIMEOUT)
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


def requests_url(endpoint: str, request_id: str) -> str:
    """``{queue}/{owner}/{app}/requests/{id}``: fal names results by app, not by path."""
    if not _REQUEST_ID.match(request_id):
        raise provider_failed("The recorded fal request id is not usable.", retryable=False)
    owner_app = "/".join(endpoint.split("/")[:2])
    return f"{queue_base_url()}/{owner_app}/requests/{request_id}"


def handle_for(http: httpx.AsyncClient, endpoint: str, request_id: str) -> AsyncRequestHandle:
    """A handle on an earlier submit, to poll it again (resuming never submits)."""
    from fal_client import AsyncRequestHandle

    base = requests_url(endpoint, request_id)
    return AsyncRequestHandle(
        request_id=request_id,
        response_url=base,
        status_url=base + "/status",
        cancel_url=base + "/cancel",
        client=http,
    )


async def cancel_request(http: httpx.AsyncClient, endpoint: str, request_id: str) -> bool:
    """Ask fal to cancel a request; True when fal accepted (best effort, never raises
    for fal's answer: the job is canceled on our side either way)."""
    import httpx

    try:
        url = requests_url(endpoint, request_id) + "/cancel"
        response = await http.put(url, timeout=timeout(CANCEL_TIMEOUT))
    except (ProviderError, httpx.HTTPError):
        return False
    return response.status_code < 400


async def wait_for_result(handle: AsyncRequestHandle) -> dict[str, Any]:
    """Poll until COMPLETED and fetch the result (fal_client retries the polls)."""
    import httpx
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
    import httpx

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
