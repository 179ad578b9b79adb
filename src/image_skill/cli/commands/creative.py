"""``create``, ``upload`` and ``edit``: the creative commands.

Arguments are checked here before anything is sent (and before an ``edit``
input is uploaded); pricing, quota, model and parameter rules are the
service's. Prompts are never echoed in messages.
"""

from __future__ import annotations

import json
import math
import os
from argparse import ArgumentParser, Namespace
from collections.abc import Callable
from typing import Any

from image_skill.cli import saving, uploads
from image_skill.cli.commands.jobs import wait_for_job
from image_skill.cli.context import Context
from image_skill.cli.output import HUMAN_RENDERERS, render_human
from image_skill.cli.parser import Registrar
from image_skill.cli.values import optional_text
from image_skill.contract.creative import CreativeOptions
from image_skill.contract.errors import flag_required, invalid_arguments
from image_skill.result import Result

# How long create/edit keep waiting, client-side, after the service's own wait
# limit answered 202 (``--no-wait`` skips both).
FOLLOW_SECONDS = 900.0


def register(reg: Registrar) -> None:
    """Add ``create``, ``upload`` and ``edit``."""
    create = reg.command("create", run_create, "Create an image (or plan one with --dry-run).")
    _creative_flags(create, default_aspect="1:1")
    upload = reg.command(
        "upload", run_upload, "Upload a local image file or an http(s) image URL as an asset."
    )
    upload.add_argument(
        "source", metavar="PATH_OR_URL", nargs="?", help="a local file or an http(s) URL"
    )
    edit = reg.command("edit", run_edit, "Edit an owned asset, a local image file or a URL.")
    edit.add_argument(
        "--input",
        metavar="ASSET_ID_OR_URL_OR_PATH",
        help="asset id, owned asset URL, http(s) URL or local file (uploaded first)",
    )
    _creative_flags(edit, default_aspect="auto")
    HUMAN_RENDERERS["image-skill create"] = render_creative
    HUMAN_RENDERERS["image-skill edit"] = render_creative


def _creative_flags(parser: ArgumentParser, *, default_aspect: str) -> None:
    parser.add_argument("--prompt", help="the prompt text")
    parser.add_argument("--prompt-file", metavar="PATH", help="read the prompt from a file")
    parser.add_argument("--model", metavar="MODEL_ID", help="model id (see 'image-skill models')")
    parser.add_argument("--provider", help="provider id (optional; the model implies it)")
    parser.add_argument("--intent", help="explore, draft or finalize")
    parser.add_argument(
        "--aspect-ratio",
        default=default_aspect,
        metavar="W:H",
        help=f"aspect ratio such as 1:1 or 16:9 (default {default_aspect})",
    )
    parser.add_argument("--format", dest="output_format", help="output format, e.g. png")
    parser.add_argument(
        "--model-parameters-json",
        metavar="JSON",
        help="model-specific parameters as a JSON object (see 'models show')",
    )
    parser.add_argument(
        "--max-estimated-usd-per-image", metavar="USD", help="refuse if one image costs more"
    )
    parser.add_argument("--max-usd", metavar="USD", help="refuse if the operation costs more")
    parser.add_argument(
        "--accept-unknown-cost",
        action="store_true",
        help="allow a model whose price is not known in advance",
    )
    parser.add_argument("--dry-run", action="store_true", help="plan and price only; no spend")
    parser.add_argument(
        "--webhook-url",
        metavar="URL",
        help="claimed agents: a public https URL for the signed completion webhook",
    )
    parser.add_argument(
        "--idempotency-key", metavar="KEY", help="retry-safe key: a repeat returns the first result"
    )
    parser.add_argument(
        "--no-wait",
        action="store_true",
        help="answer at once with the queued job (202); follow it with 'jobs wait JOB_ID'",
    )
    parser.add_argument(
        "--output",
        dest="output_path",
        metavar="PATH",
        help="also save the image here, verified (several: PATH-1.ext, PATH-2.ext ...)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="with --output: replace an existing file"
    )


# -- argument checks ------------------------------------------------------------


def read_prompt(args: Namespace) -> str:
    """The prompt from exactly one of ``--prompt`` / ``--prompt-file``."""
    if args.prompt is not None and args.prompt_file is not None:
        raise invalid_arguments(
            "Give the prompt with either --prompt or --prompt-file, not both.", field="--prompt"
        )
    if args.prompt_file is not None:
        text = read_prompt_file(str(args.prompt_file))
        if not text.strip():
            raise flag_required(
                f"The --prompt-file {uploads.shown_path(args.prompt_file)} is empty.", FILE
            )
        return text.strip()
    if args.prompt is None or not args.prompt.strip():
        raise flag_required("A prompt is required: use --prompt or --prompt-file.", "--prompt")
    return str(args.prompt)


FILE = "--prompt-file"
# A prompt is text a person wrote; a bigger file is a mistake (or /dev/zero).
MAX_PROMPT_FILE_BYTES = 1024 * 1024


def read_prompt_file(path: str) -> str:
    """The UTF-8 text of ``--prompt-file``; a missing file, a directory, an unreadable
    file and text that is not UTF-8 are each reported as what they are."""
    shown = uploads.shown_path(path)
    try:
        with open(os.path.expanduser(path), "rb") as handle:
            raw = handle.read(MAX_PROMPT_FILE_BYTES + 1)
    except FileNotFoundError:
        raise flag_required(f"The --prompt-file {shown} does not exist.", FILE) from None
    except IsADirectoryError:
        raise flag_required(
            f"The --prompt-file {shown} is a directory; give a text file.", FILE
        ) from None
    except OSError as exc:
        reason = (exc.strerror or "unreadable").lower()
        raise flag_required(
            f"The --prompt-file {shown} could not be read ({reason}).", FILE
        ) from None
    if len(raw) > MAX_PROMPT_FILE_BYTES:
        raise flag_required(
            f"The --prompt-file {shown} is larger than {MAX_PROMPT_FILE_BYTES} bytes.", FILE
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise flag_required(f"The --prompt-file {shown} is not UTF-8 text.", FILE) from None


def parse_usd(value: str | None, flag: str) -> float | None:
    """A non-negative finite dollar amount, or None when the flag was not given."""
    if value is None:
        return None
    try:
        amount = float(value)
    except ValueError:
        raise flag_required(f"{flag} must be a number of US dollars, e.g. 0.05.", flag) from None
    if not math.isfinite(amount) or amount < 0:
        raise flag_required(f"{flag} must be a finite number greater than or equal to 0.", flag)
    return amount


def parse_model_parameters(value: str | None) -> dict[str, Any] | None:
    """``--model-parameters-json`` as a JSON object."""
    flag = "--model-parameters-json"
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except ValueError:
        raise flag_required(f"{flag} is not valid JSON.", flag) from None
    if not isinstance(parsed, dict):
        raise flag_required(f'{flag} must be a JSON object, e.g. {{"seed": 1234}}.', flag)
    return parsed


def output_target(args: Namespace) -> str | None:
    """``--output`` as an absolute path, checked before any work (None when not given)."""
    if args.output_path is None:
        return None
    if args.no_wait:
        raise invalid_arguments(
            "--output saves the finished image, so it cannot be used with --no-wait; "
            "after 'image-skill jobs wait JOB_ID', save it with "
            "'image-skill assets get ASSET_ID --output PATH'.",
            field="--output",
        )
    if args.dry_run:
        raise invalid_arguments(
            "--output saves an image, and a --dry-run makes none.", field="--output"
        )
    path = saving.output_path(str(args.output_path))
    saving.check_output(path, overwrite=bool(args.overwrite))
    return path


def creative_options(args: Namespace) -> CreativeOptions:
    """The request options shared by create and edit, validated."""
    prompt = read_prompt(args)
    aspect = (args.aspect_ratio or "").strip()
    if not aspect:
        raise flag_required("--aspect-ratio must not be empty.", "--aspect-ratio")
    output_format = optional_text(args.output_format)
    return CreativeOptions(
        prompt=prompt,
        provider=optional_text(args.provider),
        model=optional_text(args.model),
        intent=optional_text(args.intent),
        aspect_ratio=aspect,
        max_estimated_usd_per_image=parse_usd(
            args.max_estimated_usd_per_image, "--max-estimated-usd-per-image"
        ),
        max_usd=parse_usd(args.max_usd, "--max-usd"),
        model_parameters=parse_model_parameters(args.model_parameters_json),
        output={"format": output_format} if output_format else None,
        dry_run=bool(args.dry_run),
        accept_unknown_cost=bool(args.accept_unknown_cost),
        webhook_url=optional_text(args.webhook_url),
    )


# -- handlers -------------------------------------------------------------------


def run_create(context: Context, args: Namespace) -> Result:
    """``POST /v1/create``."""
    options = creative_options(args)
    output = output_target(args)
    key = optional_text(args.idempotency_key)
    wait = not args.no_wait
    result = context.client().creative("create", options, key, wait=wait)
    replay = None if key is None else lambda: context.client().creative("create", options, key)
    return _saved(context, args, _followed(context, result, wait, replay), output)


def run_upload(context: Context, args: Namespace) -> Result:
    """Read or fetch the input on this machine, then ``POST /v1/upload``."""
    source = uploads.read_source(str(context.require(args.source, "PATH_OR_URL")))
    result, _asset_id = uploads.upload_source(context.client(), source)
    return result


def run_edit(context: Context, args: Namespace) -> Result:
    """Resolve ``--input`` to an owned asset id (uploading if needed), then edit it."""
    reference = str(context.require(args.input, "--input")).strip()
    options = creative_options(args)  # checked before any upload
    output = output_target(args)
    uploaded: str | None = None
    kind = uploads.classify(reference)
    owned = uploads.owned_asset_id(reference) if kind in ("asset_id", "owned_url") else None
    if owned is not None:
        asset_id = owned
    else:
        source = uploads.read_source(reference, flag="--input")  # local checks before any call
        upload_result, new_id = uploads.upload_source(context.client(), source)
        if new_id is None:
            return upload_result
        asset_id = uploaded = new_id
    key = optional_text(args.idempotency_key)
    wait = not args.no_wait
    client = context.client()
    result = client.creative("edit", options, key, input_asset_id=asset_id, wait=wait)
    replay = (
        None
        if key is None
        else lambda: client.creative("edit", options, key, input_asset_id=asset_id)
    )
    result = _saved(context, args, _followed(context, result, wait, replay), output)
    if uploaded is not None:
        if result.ok and isinstance(result.data, dict):
            result.data["input_upload"] = {"asset_id": uploaded}
        elif not result.ok:
            result.envelope.setdefault("warnings", []).append(
                f"The input was uploaded as {uploaded}; retry with --input {uploaded} "
                "to skip a new upload."
            )
    return result


def _followed(
    context: Context, result: Result, wait: bool, replay: Callable[[], Result] | None
) -> Result:
    """A create the service stopped waiting for (202): wait on, then answer as if it had.

    Once the job is terminal, a request with an idempotency key is replayed for
    the exact answer a waiting create gives; without one, the job's state is.
    """
    data = result.data if isinstance(result.data, dict) else {}
    job_id = data.get("job_id")
    if not wait or not result.ok or result.status != 202 or not isinstance(job_id, str):
        return result
    finished, _status = wait_for_job(context.client(), job_id, FOLLOW_SECONDS, 1.0)
    if finished is None:
        return result  # still not done: the 202 already says how to wait for it
    return replay() if replay is not None else finished


def _saved(context: Context, args: Namespace, result: Result, output: str | None) -> Result:
    if output is None:
        return result
    return saving.save_outputs(context, result, output, overwrite=bool(args.overwrite))


# -- human output ---------------------------------------------------------------


def render_creative(data: Any) -> str:
    """A few lines a person needs: where the image is, what it cost, what to do next."""
    if not isinstance(data, dict):
        return render_human(data)
    assets = [a for a in data.get("assets") or [] if isinstance(a, dict)]
    if not assets:
        return render_human(data)
    lines: list[str] = []
    for asset in assets:
        url = str(asset.get("url") or "")
        local = _local_path(url)
        facts = [
            f"{asset['width']}x{asset['height']}" if asset.get("width") else "",
            str(asset.get("mime_type") or ""),
        ]
        described = " ".join(fact for fact in facts if fact)
        lines.append(f"image: {local or url}" + (f"  ({described})" if described else ""))
        lines.append(f"asset: {asset.get('asset_id')}")
        if asset.get("saved_to"):
            lines.append(f"saved: {asset['saved_to']}")
    pricing = (data.get("cost") or {}).get("credit_pricing") or {}
    quota = data.get("quota") or {}
    status = ", ".join(str(v) for v in (data.get("status"), data.get("model_id")) if v)
    lines.append(f"job:   {data.get('job_id')}" + (f" ({status})" if status else ""))
    if not quota:
        pass
    elif quota.get("daily_cap") is None and not quota.get("credits_debited"):
        lines.append("cost:  none (local owner, unlimited)")
    else:
        lines.append(
            f"cost:  {quota.get('credits_debited', pricing.get('credits_required'))} credits"
            f" (balance {quota.get('balance_after')})"
        )
    return "\n".join(lines)


def _local_path(url: str) -> str | None:
    if not url.startswith("file://"):
        return None
    from urllib.parse import urlsplit
    from urllib.request import url2pathname

    return url2pathname(urlsplit(url).path)
