"""Saving an owned asset to a local file: ``assets get`` and ``create/edit --output``.

One implementation, so a file written by ``create --output`` gets exactly the
checks ``assets get`` makes: the download is unauthenticated and bounded (size
cap, the client's overall deadline), its length and sha256 must match the
asset's record, and the file is written to a temp file, fsynced, then put in
place without replacing an existing file unless ``--overwrite`` was given.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import tempfile
from typing import Any

from image_skill.cli.context import Context
from image_skill.cli.values import inner_object
from image_skill.contract.errors import ErrorCode, ImageSkillError, invalid_arguments
from image_skill.result import Result

MAX_DOWNLOAD_BYTES = 512 * 1024 * 1024


def output_path(value: str) -> str:
    """``--output`` as an absolute path (``~`` expanded)."""
    return os.path.abspath(os.path.expanduser(value))


def numbered(output: str, index: int) -> str:
    """``name-<index>.ext`` beside ``output`` (the name of one of several outputs)."""
    root, ext = os.path.splitext(output)
    return f"{root}-{index}{ext}"


def check_output(output: str, *, overwrite: bool) -> None:
    """Refuse a directory, or an existing file without ``overwrite``, before any work."""
    if os.path.isdir(output):
        raise invalid_arguments("--output names a directory; give a file path.", field="--output")
    if os.path.lexists(output) and not overwrite:
        raise _output_exists()


def save_asset(
    context: Context, asset: dict[str, Any], output: str, *, overwrite: bool
) -> dict[str, Any]:
    """Download ``asset``, verify it and write it to ``output``: ``{path, bytes, sha256}``."""
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
    _write_atomically(output, body, overwrite=overwrite)
    return {"path": output, "bytes": len(body), "sha256": digest}


def _download_failed(message: str, *, retryable: bool = True) -> ImageSkillError:
    return ImageSkillError(
        ErrorCode.ASSET_DOWNLOAD_FAILED,
        message,
        retryable=retryable,
        recovery={"suggested_command": "image-skill assets show ASSET_ID --json"},
    )


def _local_error(message: str) -> ImageSkillError:
    return ImageSkillError(ErrorCode.LOCAL_FILE_ERROR, message, retryable=False)


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


def save_outputs(context: Context, result: Result, output: str, *, overwrite: bool) -> Result:
    """After a create or edit: each output asset saved to ``output`` (``name-N.ext`` if several).

    Each saved asset gains ``saved_to`` and ``data.saved`` lists what was written.
    A job with no output yet (still running) saves nothing and says so in a warning.
    """
    envelope_data = result.data if isinstance(result.data, dict) else None
    if not result.ok or envelope_data is None:
        return result
    # A create answer carries the assets; a job followed after a 202 is ``{"job": {...}}``.
    data = inner_object(envelope_data, "job")
    assets = [asset for asset in data.get("assets") or [] if isinstance(asset, dict)]
    if not assets:
        result.envelope.setdefault("warnings", []).append(
            "Nothing was saved to --output: the job has no output yet. When it completes, "
            "save it with 'image-skill assets get ASSET_ID --output PATH'."
        )
        return result
    saved: list[dict[str, Any]] = []
    for index, asset in enumerate(assets, 1):
        path = output if len(assets) == 1 else numbered(output, index)
        try:
            record = save_asset(context, asset, path, overwrite=overwrite)
        except ImageSkillError as exc:
            raise _not_saved(exc, data, asset, path, saved) from exc
        asset["saved_to"] = record["path"]
        saved.append({"asset_id": asset.get("asset_id"), **record})
    envelope_data["saved"] = saved
    return result


def _not_saved(
    exc: ImageSkillError,
    data: dict[str, Any],
    asset: dict[str, Any],
    path: str,
    saved: list[dict[str, Any]],
) -> ImageSkillError:
    """The save failed after the image was made: say so, and how to save it without a new job."""
    asset_id = str(asset.get("asset_id"))
    command = f"image-skill assets get {asset_id} --output {shlex.quote(path)}"
    if exc.code == ErrorCode.OUTPUT_EXISTS:
        command += " --overwrite"
    return ImageSkillError(
        ErrorCode(exc.code),
        f"The image was made (job {data.get('job_id')}, asset {asset_id}) but not saved: "
        f"{exc.message} Save it with 'assets get'; running the command again would make "
        "(and charge for) a new image.",
        retryable=False,
        recovery={"suggested_command": command + " --json"},
        details={"job_id": data.get("job_id"), "asset_id": asset_id, "saved": saved},
    )
