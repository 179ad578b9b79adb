"""``assets list|show|get`` (the job commands live in ``jobs.py``)."""

from __future__ import annotations

from argparse import Namespace
from typing import Any

from image_skill.cli import saving, uploads
from image_skill.cli.context import Context
from image_skill.cli.output import HUMAN_RENDERERS, render_human
from image_skill.cli.parser import Registrar
from image_skill.cli.values import MAX_LIMIT, inner_object, optional_text, page_limit
from image_skill.contract.errors import ErrorCode, ImageSkillError, invalid_arguments
from image_skill.result import Result


def register(reg: Registrar) -> None:
    """Add the asset and job commands."""
    reg.group("assets", "Owned assets.")
    listing = reg.command(
        "assets list", run_asset_list, "List your organization's assets, newest first."
    )
    listing.add_argument(
        "--kind",
        choices=("generated", "edited", "uploaded"),
        help="only assets made by a create (generated), an edit (edited), or uploaded",
    )
    listing.add_argument("--job", metavar="JOB_ID", help="only the outputs of this job")
    listing.add_argument("--limit", type=int, metavar="N", help=f"at most N assets (1-{MAX_LIMIT})")
    listing.add_argument("--cursor", metavar="CURSOR", help="continue from a previous page")
    HUMAN_RENDERERS["image-skill assets list"] = render_assets
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


def run_asset_list(context: Context, args: Namespace) -> Result:
    """``GET /v1/assets``."""
    return context.client().list_assets(
        limit=page_limit(args.limit),
        cursor=optional_text(args.cursor),
        kind=args.kind,
        job=optional_text(args.job),
    )


def render_assets(data: Any) -> str:
    """One line per asset (id, kind, size, job, time), then how to get the next page."""
    if not isinstance(data, dict) or not isinstance(data.get("assets"), list):
        return render_human(data)
    lines = []
    for asset in data["assets"]:
        if not isinstance(asset, dict):
            continue
        stand_in = "  (stand-in)" if asset.get("stand_in") else ""
        lines.append(
            f"{asset.get('asset_id')}  {asset.get('kind')}  "
            f"{asset.get('width')}x{asset.get('height')}  {asset.get('mime_type')}  "
            f"{asset.get('job_id') or '-'}  {asset.get('created_at')}{stand_in}"
        )
    if not lines:
        lines = ["No assets."]
    if data.get("next_cursor"):
        lines.append(
            f"more: image-skill assets list --cursor {data['next_cursor']} (same --kind/--job)"
        )
    return "\n".join(lines)


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


def run_asset_get(context: Context, args: Namespace) -> Result:
    """Metadata, then an unauthenticated download, verified, written atomically."""
    reference = str(context.require(args.reference, "ASSET_ID_OR_URL"))
    output = saving.output_path(str(context.require(args.output, "--output")))
    resolve_asset_reference(reference)  # refuse external URLs before touching anything
    saving.check_output(output, overwrite=args.overwrite)
    result, _asset_id, _kind = _show(context, reference)
    if not result.ok:
        return result
    asset = asset_of(result.data)
    saved = saving.save_asset(context, asset, output, overwrite=args.overwrite)
    return Result(result.envelope | {"data": {"asset": asset, "output": saved}}, 0, result.status)
