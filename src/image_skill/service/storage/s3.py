"""Asset store in an S3-compatible bucket (AWS S3, SeaweedFS, MinIO, R2...).

Several API and worker processes on several machines share one bucket, which a
local directory cannot give them. Objects sit under the same content-addressed
keys as on disk, so a put is create-only: a second put of the same bytes finds
the object there and is a no-op, and no key is ever overwritten with other bytes.

The client is obstore's (Rust's ``object_store`` under a typed async API): it
streams reads, signs GET URLs locally and bounds every request with timeouts
and a short retry budget, so an outage fails a write within seconds and the
caller can keep the output in the spool instead of holding the job open.

Vendor errors stop here: every failure becomes ``StoreError`` with a message
that names no bucket, key, endpoint or credential (obstore's own messages carry
the request URL), and the log line says only which operation failed and how.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit, urlunsplit

import anyio
import obstore
from obstore.exceptions import AlreadyExistsError, BaseError, PreconditionError

from image_skill.service.storage.base import (
    CHUNK_BYTES,
    StoreError,
    content_key,
)

if TYPE_CHECKING:
    from pathlib import Path

    from obstore.store import S3Config, S3Store

log = logging.getLogger(__name__)

_SETTLE_SECONDS = 0.05
_MEDIA_TYPES = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp", "gif": "image/gif"}
# Objects never change under their key, so any cache may keep them for good.
_IMMUTABLE = "public, max-age=31536000, immutable"
# What obstore raises: OSError (FileNotFoundError, timeouts), its own error tree,
# and ValueError for a configuration it cannot use.
_FAILURES = (OSError, BaseError, ValueError)
# Matched against obstore's message, which also carries the request URL: a bare
# "403" would match a port such as 40312, so the status is matched with its words.
_REFUSED_MARKERS = (
    "status code: 401",
    "status code: 403",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
    "AccessDenied",
)


@dataclass(frozen=True)
class S3Location:
    """Where the bucket is and how to reach it (from the ``IMAGE_SKILL_S3_*`` settings)."""

    bucket: str
    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None
    addressing_style: Literal["path", "virtual"] = "path"
    timeout_seconds: float = 30.0

    def __repr__(self) -> str:
        # Dataclass reprs show every field; this one must never show the secret.
        return f"S3Location(addressing_style={self.addressing_style!r})"


class S3AssetStore:
    """Content-addressed objects in one bucket, through one client per process."""

    backend = "s3"

    def __init__(self, location: S3Location) -> None:
        self.location = location
        self._store: S3Store | None = None

    def _client(self) -> S3Store:
        """The process's client, made on first use (no connection is opened until a request)."""
        if self._store is None:
            self._store = _make_client(self.location)
        return self._store

    async def put(
        self,
        data: bytes,
        *,
        sha256: str,
        extension: str,
        alias: str | None = None,
    ) -> str:
        """Create the object unless it exists (same key, same bytes); ``alias`` needs no copy."""
        key = content_key(sha256, extension)
        await self._create(key, data, extension)
        return key

    async def _create(self, key: str, data: bytes, extension: str) -> None:
        attributes = {
            "Content-Type": _MEDIA_TYPES.get(extension, "application/octet-stream"),
            "Cache-Control": _IMMUTABLE,
        }
        try:
            await obstore.put_async(
                self._client(),
                key,
                data,
                mode="create",
                attributes=attributes,
            )
        except (AlreadyExistsError, PreconditionError):
            pass  # already stored: content addressing makes it the same bytes
        except _FAILURES as exc:
            raise _failed("write", exc) from None

    async def get(self, key: str) -> bytes:
        """Read a whole object."""
        try:
            result = await obstore.get_async(self._client(), key)
            return bytes(await result.bytes_async())
        except _FAILURES as exc:
            raise _failed("read", exc) from None

    async def open(self, key: str) -> AsyncIterator[bytes]:
        """Start the GET now (a missing object fails here); stream the body after."""
        try:
            result = await obstore.get_async(self._client(), key)
        except _FAILURES as exc:
            raise _failed("read", exc) from None
        return _stream(result.stream(min_chunk_size=CHUNK_BYTES))

    async def presigned_url(self, key: str, seconds: int) -> str | None:
        """A GET URL signed locally with the store's credentials, valid ``seconds``."""
        try:
            return await obstore.sign_async(self._client(), "GET", key, timedelta(seconds=seconds))
        except _FAILURES as exc:
            raise _failed("sign", exc) from None

    def alias_path(self, alias: str, extension: str) -> Path | None:
        """Objects are not files: media is served (or redirected) by the service."""
        return None

    async def check(self) -> None:
        """List one key of the bucket: reachable, existing and readable with these credentials."""
        try:
            async for _chunk in obstore.list(self._client(), prefix="objects/", chunk_size=1):
                break
        except _FAILURES as exc:
            raise StoreError(_check_message(exc)) from None

    async def aclose(self) -> None:
        """Drop the client; its connection pool closes with it."""
        self._store = None
        # obstore completes each call on its own runtime thread, which lets go of
        # its Python references just after the caller resumes. A process that
        # exits at once (admin commands, a stopping worker) can finalize the
        # interpreter under that thread and abort; a moment here lets it finish.
        await anyio.sleep(_SETTLE_SECONDS)


def _make_client(location: S3Location) -> S3Store:
    from obstore.store import S3Store

    timeout = timedelta(seconds=location.timeout_seconds)
    endpoint = location.endpoint_url
    virtual = location.addressing_style == "virtual"
    if endpoint is not None and virtual:
        # object_store wants a virtual-hosted endpoint to name the bucket itself.
        parts = urlsplit(endpoint)
        endpoint = urlunsplit(parts._replace(netloc=f"{location.bucket}.{parts.netloc}"))
    config: S3Config = {
        "region": location.region,
        "virtual_hosted_style_request": virtual,
    }
    if endpoint is not None:
        config["endpoint"] = endpoint
    if location.access_key_id is not None:
        config["access_key_id"] = location.access_key_id
    if location.secret_access_key is not None:
        config["secret_access_key"] = location.secret_access_key
    return S3Store(
        location.bucket,
        config=config,
        client_options={
            "timeout": timeout,
            "connect_timeout": min(timeout, timedelta(seconds=5)),
            "allow_http": bool(endpoint and endpoint.startswith("http://")),
        },
        retry_config={
            "max_retries": 2,
            "retry_timeout": timeout,
            "backoff": {
                "init_backoff": timedelta(milliseconds=100),
                "max_backoff": timedelta(seconds=1),
                "base": 2,
            },
        },
    )


async def _stream(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    try:
        async for chunk in chunks:
            yield bytes(chunk)
    except _FAILURES as exc:
        raise _failed("read", exc) from None


def _failed(operation: str, exc: Exception) -> StoreError:
    """The safe error for a failed operation; the log names only the kind of failure."""
    missing = isinstance(exc, FileNotFoundError)
    log.warning("s3 %s failed: %s", operation, "not found" if missing else type(exc).__name__)
    return StoreError("asset missing" if missing else f"asset {operation} failed")


def _check_message(exc: Exception) -> str:
    """What an operator should fix, by setting name (never the values)."""
    text = str(exc)
    if "NoSuchBucket" in text:
        return (
            "The bucket named by IMAGE_SKILL_S3_BUCKET does not exist at "
            "IMAGE_SKILL_S3_ENDPOINT_URL: create it, or fix the setting."
        )
    if any(marker in text for marker in _REFUSED_MARKERS) or "Permission" in type(exc).__name__:
        return (
            "The S3 endpoint refused the credentials: check IMAGE_SKILL_S3_ACCESS_KEY_ID, "
            "IMAGE_SKILL_S3_SECRET_ACCESS_KEY and IMAGE_SKILL_S3_REGION, and the key's "
            "access to IMAGE_SKILL_S3_BUCKET."
        )
    return (
        "The S3 endpoint could not be reached or answered an error: check "
        "IMAGE_SKILL_S3_ENDPOINT_URL, IMAGE_SKILL_S3_REGION and IMAGE_SKILL_S3_ADDRESSING_STYLE."
    )
