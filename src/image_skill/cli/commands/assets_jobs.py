"""``assets show|get`` and ``jobs show|list|wait|cancel``."""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from argparse import Namespace
from typing import Any

from image_skill.cli import uploads
from image_skill.cli.context import Context
from image_skill.cli.parser import Registrar
from image_skill.contract.errors import ErrorCode, ImageSkillError, spec_for
from image_skill.result import Result

TERMINAL_STATUSES = ("completed", "failed", "canceled")
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

    reg.group("jobs", "Creative jobs.")
    job_show = reg.command("jobs show", run_job_show, "Show a job.")
    job_show.add_argument("job_id", metavar="JOB_ID", nargs="?", help="a job id")
    job_list = reg.command("jobs list", run_job_list, "List this agent's jobs, newest first.")
    job_list.add_argument("--limit", type=int, metavar="N", help="at most N jobs")
    job_list.add_argument("--cursor", metavar="CURSOR", help="continue from a previous page")
    job_list.add_argument("--status", metavar="STATUS", help="only jobs in this status")
    wait = reg.command(
        "jobs wait", run_job_wait, "Wait until a job completes, fails or is canceled."
    )
    wait.add_argument("job_id", metavar="JOB_ID", nargs="?", help="a job id")
    wait.add_argument(
        "--timeout-ms", type=int, default=30000, metavar="MS", help="give up after MS (30000)"
    )
    wait.add_argument(
        "--poll-interval-ms", type=int, default=1000, metavar="MS", help="poll every MS (1000)"
    )
    cancel = reg.command(
        "jobs cancel",
        run_job_cancel,
        "Cancel a job: a queued one at once, a running one as soon as its executor sees it "
        "(never charged); data.cancel says which.",
    )
    cancel.add_argument("job_id", metavar="JOB_ID", nargs="?", help="a job id")


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
    raise ImageSkillError(
        ErrorCode.INVALID_ARGUMENTS,
        "Give an asset id (such as image_...) or an owned asset URL.",
        details={"field": "ASSET_ID_OR_URL"},
    )


def asset_of(data: Any) -> dict[str, Any]:
    """The asset object of an asset response (``data.asset``, or ``data`` itself)."""
    if isinstance(data, dict):
        inner = data.get("asset")
        if isinstance(inner, dict):
            return inner
        return data
    return {}


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
        raise ImageSkillError(
            ErrorCode.INVALID_ARGUMENTS,
            "--output names a directory; give a file path.",
            details={"field": "--output"},
        )
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


# -- jobs -----------------------------------------------------------------------


def run_job_show(context: Context, args: Namespace) -> Result:
    """``GET /v1/jobs/{id}``."""
    return context.client().job(str(context.require(args.job_id, "JOB_ID")).strip())


def run_job_list(context: Context, args: Namespace) -> Result:
    """``GET /v1/jobs``."""
    if args.limit is not None and args.limit < 1:
        raise ImageSkillError(
            ErrorCode.INVALID_ARGUMENTS, "--limit must be at least 1.", details={"field": "--limit"}
        )
    return context.client().jobs(limit=args.limit, cursor=args.cursor, status=args.status)


def run_job_cancel(context: Context, args: Namespace) -> Result:
    """``POST /v1/jobs/{id}/cancel``."""
    return context.client().cancel_job(str(context.require(args.job_id, "JOB_ID")).strip())


def job_of(data: Any) -> dict[str, Any]:
    """The job object of a job response (``data.job``, or ``data`` itself)."""
    if isinstance(data, dict):
        inner = data.get("job")
        if isinstance(inner, dict):
            return inner
        return data
    return {}


def job_exit_code(job: dict[str, Any]) -> int:
    """0 unless a terminal job carries an error code, then that code's exit code."""
    error = job.get("error")
    if isinstance(error, dict) and error.get("code"):
        return spec_for(str(error["code"])).exit_code
    return 0


def run_job_wait(context: Context, args: Namespace) -> Result:
    """Poll ``GET /v1/jobs/{id}`` until a terminal status or the timeout."""
    job_id = str(context.require(args.job_id, "JOB_ID")).strip()
    if args.timeout_ms < 0:
        raise ImageSkillError(
            ErrorCode.INVALID_ARGUMENTS,
            "--timeout-ms must be 0 or more.",
            details={"field": "--timeout-ms"},
        )
    if args.poll_interval_ms < 1:
        raise ImageSkillError(
            ErrorCode.INVALID_ARGUMENTS,
            "--poll-interval-ms must be at least 1.",
            details={"field": "--poll-interval-ms"},
        )
    client = context.client()
    deadline = time.monotonic() + args.timeout_ms / 1000
    interval = args.poll_interval_ms / 1000
    while True:
        result = client.job(job_id)
        if not result.ok:
            return result
        job = job_of(result.data)
        status = job.get("status")
        if status in TERMINAL_STATUSES:
            return Result(result.envelope, job_exit_code(job), result.status)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        time.sleep(min(interval, remaining))
    raise ImageSkillError(
        ErrorCode.TIMEOUT,
        f"The job did not finish within {args.timeout_ms} ms (last status: {status}).",
        recovery={
            "suggested_command": f"image-skill jobs wait {job_id} --timeout-ms {args.timeout_ms} "
            f"--poll-interval-ms {args.poll_interval_ms} --json"
        },
        retryable=True,
        details={"job_id": job_id, "status": status},
    )
