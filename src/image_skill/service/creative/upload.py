"""Uploads: client-normalized bytes become an owned, sanitized asset.

The service never fetches URLs. It trusts nothing the client declares about
the bytes: length and digest are verified, the format is sniffed, pixels are
bounded before decoding, and metadata that could locate or identify someone
(EXIF/GPS, XMP, text chunks) is stripped before anything is stored.

Decoding is the expensive part and the attacker chooses its cost, so it runs
off the event loop in a small per-process pool (``Runtime.decode_pool``) under
the pixel and time bounds of :mod:`image_skill.imaging.limits`, and the
request lends its admission place out while it waits for or uses the pool, so
a flood of uploads queues behind the pool, not in front of other tenants'
creates. Unclaimed agents may upload ``daily_upload_cap_unclaimed`` images per
UTC day; the refusal is ``DAILY_JOB_CAP_REACHED`` (uploads are rows of the jobs
table), checked before the bytes are decoded and again when the job is written.
"""

from __future__ import annotations

import binascii
import hashlib
import io
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any
from urllib.parse import urlsplit

import anyio
import pybase64
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract.errors import ErrorCode, ImageSkillError, invalid_arguments
from image_skill.contract.ids import new_id, utc_now
from image_skill.imaging.acceptance import (
    FORMAT_RULES,
    SanitizedImage,
    sanitize_image,
    verify_declared,
)
from image_skill.imaging.limits import InputLimits, InputRejected
from image_skill.service import telemetry
from image_skill.service.activity import creative_events
from image_skill.service.assets.schemas import AssetUrls, asset_view
from image_skill.service.creative.accounting import lock_account
from image_skill.service.creative.admission_gate import AdmissionPlace
from image_skill.service.creative.schemas import UploadRequest
from image_skill.service.db.engine import session_scope
from image_skill.service.db.models import Asset, Job
from image_skill.service.identity.principal import Principal
from image_skill.service.quota.repository import uploads_since
from image_skill.service.quota.service import daily_upload_cap, utc_day_bounds
from image_skill.service.runtime import Runtime
from image_skill.service.settings import Settings
from image_skill.service.storage.base import StoreError

_B64_SLICE = 4 * 1024 * 1024  # characters of base64 decoded at a time (a multiple of 4)


def _refused(rule: str, message: str) -> ImageSkillError:
    return ImageSkillError(
        ErrorCode.INPUT_POLICY_DENIED,
        message,
        details={"rule": f"upload.{rule}"},
        recovery={"suggested_command": "upload a PNG, JPEG, WebP, GIF or AVIF image"},
    )


def safe_filename(name: str | None) -> str | None:
    """The base name only: never a directory, from either path convention."""
    if not name:
        return None
    base = PureWindowsPath(PurePosixPath(name).name).name.strip()
    return base[:120] or None


def safe_origin(origin: str | None) -> str | None:
    """``scheme://host[:port]`` of a remote source; paths and queries are cut off."""
    if not origin:
        return None
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a port that is not a number in range: not a usable origin
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}{port}"


def _take_bytes(body: UploadRequest, limits: InputLimits) -> bytes:
    """``bytes_base64`` decoded strictly, then released from the model (emptied).

    ``b64decode`` of a ``str`` first encodes all of it to ASCII: one more copy of the
    largest thing in the request. Slices of ``_B64_SLICE`` characters (a multiple of
    4) decode to the same bytes as the whole, given that padding may only end the
    last slice, which is checked first, as the whole decode would. They are written
    into one buffer of the decoded size, which ``getvalue`` hands over without a copy.
    """
    text = body.bytes_base64
    if len(text) > (limits.max_bytes * 4) // 3 + 8:
        raise _refused("too_large", f"The upload exceeds {limits.max_bytes} bytes.")
    last = max(0, (len(text) - 1) // _B64_SLICE * _B64_SLICE)
    buffer = io.BytesIO()
    size = len(text) // 4 * 3  # the most it can decode to: sized once, never regrown
    if size:
        buffer.seek(size - 1)
        buffer.write(b"\0")
        buffer.seek(0)
    try:
        if text.find("=", 0, last) != -1:
            raise binascii.Error("padding before the end")
        for start in range(0, len(text), _B64_SLICE):
            buffer.write(pybase64.b64decode(text[start : start + _B64_SLICE], validate=True))
    except (binascii.Error, ValueError):
        raise invalid_arguments("bytes_base64 is not valid base64.", field="bytes_base64") from None
    del text
    body.bytes_base64 = ""  # released: read_upload keeps no other reference to it
    buffer.truncate()  # cut after what was decoded (less the padding)
    return buffer.getvalue()


def _inspect(data: bytes, body: UploadRequest, limits: InputLimits) -> SanitizedImage:
    try:
        verify_declared(data, declared_length=body.content_length, declared_sha256=body.sha256)
        return sanitize_image(data, limits)
    except InputRejected as exc:
        declared_field = {"length_mismatch": "content_length", "sha256_mismatch": "sha256"}
        if exc.rule in declared_field:
            raise ImageSkillError(
                ErrorCode.INVALID_ARGUMENTS,
                exc.message,
                details={"field": declared_field[exc.rule]},
            ) from None
        if exc.rule in FORMAT_RULES:
            # Not an image of a supported format: an input error, not a policy refusal.
            code = ErrorCode.UPLOAD_MIME_TYPE_UNKNOWN
            if exc.rule != "unsupported_format":
                code = ErrorCode.INVALID_ARGUMENTS
            details = {"field": "bytes_base64", "rule": f"upload.{exc.rule}"}
            raise ImageSkillError(code, exc.message, details=details) from None
        raise _refused(exc.rule, exc.message) from None


def input_limits(settings: Settings) -> InputLimits:
    """The upload bounds configured for this service."""
    return InputLimits(
        max_bytes=settings.max_upload_bytes,
        max_pixels=settings.max_upload_pixels,
        max_total_pixels=settings.max_decoded_pixels_total,
        decode_seconds=settings.image_decode_timeout_seconds,
    )


async def _upload_cap_refusal(
    session: AsyncSession, settings: Settings, principal: Principal
) -> None:
    cap = daily_upload_cap(settings, principal)
    if cap is None:
        return
    day_start, reset_at = utc_day_bounds(utc_now())
    used = await uploads_since(session, principal.organization_id, principal.actor_id, day_start)
    if used < cap:
        return
    raise ImageSkillError(
        ErrorCode.DAILY_JOB_CAP_REACHED,
        f"The daily limit of {cap} uploads for unclaimed agents is used up; "
        "it resets at 00:00 UTC.",
        recovery={
            "retry_after_seconds": int((reset_at - utc_now()).total_seconds()) + 1,
            "suggested_command": "image-skill claim request --json",
        },
        details={"limit": "daily_upload_cap", "daily_cap": cap, "used_today": used},
    )


async def _check_upload_cap(runtime: Runtime, principal: Principal) -> None:
    if daily_upload_cap(runtime.settings, principal) is None:
        return
    async with session_scope(runtime.engine, write=False) as session:
        await _upload_cap_refusal(session, runtime.settings, principal)


async def _inspect_in_pool(
    runtime: Runtime, data: bytes, body: UploadRequest, place: AdmissionPlace | None
) -> SanitizedImage:
    """Decode in a worker thread holding a decode slot, with the admission place lent out."""
    limits = input_limits(runtime.settings)
    if place is None:
        return await anyio.to_thread.run_sync(
            _inspect, data, body, limits, limiter=runtime.decode_pool
        )
    async with place.lent():
        return await anyio.to_thread.run_sync(
            _inspect, data, body, limits, limiter=runtime.decode_pool
        )


async def upload(
    runtime: Runtime,
    principal: Principal,
    body: UploadRequest,
    trace_id: str,
    urls: AssetUrls,
    place: AdmissionPlace | None = None,
) -> dict[str, Any]:
    """Verify, sanitize, store and record one uploaded image (``body.bytes_base64`` is
    emptied once decoded: the caller must not need it)."""
    settings = runtime.settings
    asset_id = new_id("image")
    await _check_upload_cap(runtime, principal)
    data = _take_bytes(body, input_limits(settings))
    image = await _inspect_in_pool(runtime, data, body, place)
    warnings = []
    if body.mime_type and body.mime_type.lower() != image.mime_type:
        warnings.append(
            f"Declared type {body.mime_type[:40]} differs; stored as {image.mime_type}."
        )
    existing = await _already_uploaded(runtime, principal, image.sha256)
    if existing is not None:
        # Same bytes, same organization: one asset, so retried edits stay idempotent.
        warnings.append("Identical image already uploaded; its asset is returned.")
        return _response(body, data, image, existing, urls, warnings)
    try:
        key = await runtime.store.put(
            image.data, sha256=image.sha256, extension=image.extension, alias=asset_id
        )
    except StoreError:
        raise ImageSkillError(
            ErrorCode.ARTIFACT_STORAGE_WRITE_FAILED,
            "The upload could not be stored; nothing was kept.",
            retryable=False,  # CONTRACT: this code is never retryable
        ) from None
    now = utc_now()
    job = Job(
        id=new_id("job"),
        organization_id=principal.organization_id,
        actor_id=principal.actor_id,
        operation="upload",
        status="completed",
        trace_id=trace_id,
        credits_reserved=0,
        credits_debited=0,
        safety_status="allowed",
        created_at=now,
        started_at=now,
        completed_at=now,
        updated_at=now,
    )
    asset = Asset(
        id=asset_id,
        organization_id=principal.organization_id,
        actor_id=principal.actor_id,
        job_id=job.id,
        kind="uploaded",
        mime_type=image.mime_type,
        extension=image.extension,
        width=image.width,
        height=image.height,
        content_length=len(image.data),
        sha256=image.sha256,
        storage_key=key,
        source_kind=body.source_kind,
        metadata_stripped=image.metadata_stripped,
        created_at=now,
    )
    async with session_scope(runtime.engine, write=True) as session:
        if daily_upload_cap(settings, principal) is not None:
            await lock_account(session, principal.actor_id)  # concurrent uploads count once each
            await _upload_cap_refusal(session, settings, principal)
        session.add(job)
        await session.flush()
        session.add(asset)
        await session.flush()
        await creative_events.asset_uploaded(session, job, asset)
    telemetry.annotate(job_id=job.id, outputs=1)
    return _response(body, data, image, asset, urls, warnings)


async def _already_uploaded(runtime: Runtime, principal: Principal, sha256: str) -> Asset | None:
    async with session_scope(runtime.engine, write=False) as session:
        query = (
            select(Asset)
            .where(
                Asset.organization_id == principal.organization_id,
                Asset.kind == "uploaded",
                Asset.sha256 == sha256,
            )
            .limit(1)
        )
        return (await session.execute(query)).scalar_one_or_none()


def _response(
    body: UploadRequest,
    data: bytes,
    image: SanitizedImage,
    asset: Asset,
    urls: AssetUrls,
    warnings: list[str],
) -> dict[str, Any]:
    return {
        "request": {
            "source_kind": body.source_kind,
            "filename": safe_filename(body.filename),
            "remote_origin": safe_origin(body.remote_origin),
        },
        "asset": asset_view(asset, urls),
        "upload": {
            "bytes": len(data),
            "stored_bytes": len(image.data),
            "mime_type": image.mime_type,
            "sha256": hashlib.sha256(data).hexdigest(),
            "stored_sha256": image.sha256,
            "policy": {"status": "allowed", "metadata_stripped": image.metadata_stripped},
        },
        "_warnings": warnings,
    }
