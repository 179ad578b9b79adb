"""``assets show|get`` (the job commands live in ``jobs.py``)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from argparse import Namespace
from typing import Any

from image_skill.cli import uploads
from image_skill.cli.context import Context
from image_skill.cli.parser import Registrar
from image_skill.cli.values import inner_object
from image_skill.contract.errors import ErrorCode, ImageSkillError, invalid_arguments
from image_skill.result import Result

MAX_DOWNLOAD_BYTES = 512 * 1024 * 1024


def register(reg: Registrar) -> None:
    """Add the asset and job commands."""
    reg.group("assets", "Owned assets.")
    show = reg.command("assets show", run_asset_show, "Show an owned asset (by id or owned URL).")
    show.add_argument("reference", metavar="ASSET_ID_OR_URL", nargs="?", help="asset id or URL")
    get = reg.command(
        "assets get", run_asset_get, "Download an owned asset to a local file (verified)."
    )
    get.add_argument("reference", metavar="ASSET_ID_OR_URL", nargs="?", help="asset id or URL")
    get.add_argument("--output", metavar="PATH", help="the file to write")
    get.add_argument("--overwrite", action="store_true", help="replace an existing file")


# -- assets ---------------------------------------------------------------------


def resolve_asset_reference(reference: str) -> tuple[str, str]:
    """``(asset_id, reference_type)`` for an asset id or an owned asset URL."""
    value = reference.strip()
    if uploads.is_asset_id(value):
        return value, "asset_id"
    from_url = uploads.asset_id_from_url(value)
    if from_url is not None:
        return from_url, "url"
    if uploads.is_web_url(value):
        raise ImageSkillError(
            ErrorCode.INVALID_ARGUMENTS,
            "This command works only on Image Skill-owned assets; the URL is not one. "
            "Upload external images first.",
            recovery={"suggested_command": "image-skill upload PATH_OR_URL --json"},
            details={"field": "ASSET_ID_OR_URL"},
        )
    raise invalid_arguments(
        "Give an asset id (such as image_...) or an owned asset URL.", field="ASSET_ID_OR_URL"
    )


def asset_of(data: Any) -> dict[str, Any]:
    """The asset object of an asset response (``data.asset``, or ``data`` itself)."""
    return inner_object(data, "asset")


def _show(context: Context, reference: str) -> tuple[Result, str, str]:
    asset_id, kind = resolve_asset_reference(reference)
    return context.client().asset(asset_id), asset_id, kind


def run_asset_show(context: Context, args: Namespace) -> Result:
    """``GET /v1/assets/{id}``."""
    reference = str(context.require(args.reference, "ASSET_ID_OR_URL"))
    result, asset_id, kind = _show(context, reference)
    if result.ok and isinstance(result.data, dict):
        shown = reference.strip() if kind == "url" else asset_id
        result.data["request"] = {"reference": shown, "reference_type": kind}
    return result


def _download_failed(message: str, *, retryable: bool = True) -> ImageSkillError:
    return ImageSkillError(
        ErrorCode.ASSET_DOWNLOAD_FAILED,
        message,
        retryable=retryable,
        recovery={"suggested_command": "image-skill assets show ASSET_ID --json"},
    )


def _local_error(message: str) -> ImageSkillError:
    return ImageSkillError(ErrorCode.LOCAL_FILE_ERROR, message, retryable=False)


def run_asset_get(context: Context, args: Namespace) -> Result:
    """Metadata, then an unauthenticated download, verified, written atomically."""
    reference = str(context.require(args.reference, "ASSET_ID_OR_URL"))
    output = os.path.abspath(os.path.expanduser(str(context.require(args.output, "--output"))))
    resolve_asset_reference(reference)  # refuse external URLs before touching anything
    _check_output(output, overwrite=args.overwrite)
    result, _asset_id, _kind = _show(context, reference)
    if not result.ok:
        return result
    asset = asset_of(result.data)
    url = asset.get("url")
    if not isinstance(url, str) or not url:
        raise _download_failed("The asset has no download URL.", retryable=False)
    expected_length = asset.get("content_length")
    limit = (
        expected_length
        if isinstance(expected_length, int) and expected_length >= 0
        else MAX_DOWNLOAD_BYTES
    )
    status, headers, body = context.client().download(url, max_bytes=limit)
    if not 200 <= status < 300:
        raise _download_failed(
            f"The asset download answered HTTP {status}.",
            retryable=status >= 500 or status == 429,
        )
    _verify(body, headers, asset)
    digest = hashlib.sha256(body).hexdigest()
    _write_atomically(output, body, overwrite=args.overwrite)
    data = {"asset": asset, "output": {"path": output, "bytes": len(body), "sha256": digest}}
    return Result(result.envelope | {"data": data}, 0, result.status)


def _check_output(output: str, *, overwrite: bool) -> None:
    if os.path.isdir(output):
        raise invalid_arguments("--output names a directory; give a file path.", field="--output")
    if os.path.lexists(output) and not overwrite:
        raise _output_exists()


def _output_exists() -> ImageSkillError:
    return ImageSkillError(
        ErrorCode.OUTPUT_EXISTS,
        "The output file already exists; nothing was written.",
        recovery={"required_flag": "--overwrite"},
        retryable=False,
    )


def _verify(body: bytes, headers: dict[str, str], asset: dict[str, Any]) -> None:
    declared = headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) != len(body):
        raise _download_failed("The download was incomplete (length differs from the header).")
    expected = asset.get("content_length")
    if isinstance(expected, int) and expected != len(body):
        raise _download_failed("The downloaded size differs from the asset's recorded size.")
    sha = asset.get("sha256")
    if isinstance(sha, str) and sha and hashlib.sha256(body).hexdigest() != sha.lower():
        raise _download_failed("The downloaded bytes do not match the asset's sha256.")


def _write_atomically(output: str, body: bytes, *, overwrite: bool) -> None:
    directory = os.path.dirname(output) or "."
    try:
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".image-skill-", suffix=".part")
    except OSError as exc:
        raise _local_error("Could not create the output file's directory or a temp file.") from exc
    try:
        try:
            with os.fdopen(fd, "wb") as handle:
                mask = os.umask(0)
                os.umask(mask)
                os.fchmod(handle.fileno(), 0o666 & ~mask)
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise _local_error("Could not write the output file.") from exc
        if overwrite:
            _replace(tmp, output)
        else:
            _place_new(tmp, output)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def _replace(tmp: str, output: str) -> None:
    try:
        os.replace(tmp, output)
    except OSError as exc:
        raise _local_error("Could not move the downloaded file into place.") from exc


def _place_new(tmp: str, output: str) -> None:
    # A hard link fails if the name was taken meanwhile, so nothing is overwritten.
    try:
        os.link(tmp, output)
    except FileExistsError:
        raise _output_exists() from None
    except OSError:
        if os.path.lexists(output):
            raise _output_exists() from None
        _replace(tmp, output)  # file systems without hard links
