"""The image tools: plan, create, edit, upload and get_asset.

Their options are the CLI's (``CreativeOptions``); ``model_parameters`` is the
chosen model's own parameter object, passed through untouched and checked by
the service against that model's schema (``show_model`` returns it), so an
MCP caller can use every capability a model has. Local paths exist only under
stdio: over HTTP, ``upload`` takes base64 bytes and ``get_asset`` returns the
owned URL without writing anywhere.
"""

from __future__ import annotations

import binascii
import os
from typing import Annotated, Any, Literal

import pybase64
from mcp.server.mcpserver import Context, MCPServer
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import Field

from image_skill.cli.uploads import MAX_UPLOAD_BYTES, UploadSource, image_mime, read_local
from image_skill.client import Client
from image_skill.contract.errors import invalid_arguments
from image_skill.mcp.backend import Backend, LocalBackend
from image_skill.mcp.calls import answer, guarded
from image_skill.mcp.results import data_result, error_result
from image_skill.result import Result

Prompt = Annotated[str, Field(description="What to make (or, for an edit, what to change).")]
Model = Annotated[
    str | None,
    Field(description="A model id from list_models; omitted: the service's default for the job."),
]
Aspect = Annotated[
    str | None, Field(description="e.g. 1:1, 3:2, 2:3, 16:9, 9:16 (the model's list: show_model).")
]
Intent = Annotated[str | None, Field(description="explore, draft or finalize, where supported.")]
Params = Annotated[
    dict[str, Any] | None,
    Field(
        description="The model's own parameters (e.g. quality, size, n), exactly as the "
        "model_parameters.schema from show_model(model_id) describes; unknown fields are refused."
    ),
]
MaxUsd = Annotated[
    float | None, Field(description="Refuse the job if its estimated price is above this (USD).")
]
Unknown = Annotated[bool, Field(description="Run even if the model's price is unknown.")]
Thumb = Annotated[
    bool,
    Field(description="Also return a small JPEG preview (<=256 px, <=40 KB); off by default."),
]
Wait = Annotated[
    bool,
    Field(description="Wait for the image (default). False: answer at once with the queued job."),
]
IdemKey = Annotated[
    str | None, Field(description="Retry-safe key: the same key never makes (or charges) twice.")
]
InputAsset = Annotated[
    str, Field(description="An owned asset id (from create, edit or upload) to start from.")
]
WRITES = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=True)
READS = ToolAnnotations(read_only_hint=True, open_world_hint=False)


def options(
    model: str | None,
    aspect_ratio: str | None,
    intent: str | None,
    model_parameters: dict[str, Any] | None,
    max_usd: float | None,
    accept_unknown_cost: bool,
) -> dict[str, Any]:
    """The ``CreativeOptions`` fields a tool call sets."""
    return {
        "model": model,
        "aspect_ratio": aspect_ratio,
        "intent": intent,
        "model_parameters": model_parameters,
        "max_usd": max_usd,
        "accept_unknown_cost": accept_unknown_cost,
    }


def register(server: MCPServer[Any], backend: Backend) -> None:
    """Add the image tools to ``server``."""

    @server.tool(
        name="plan",
        annotations=READS,
        description="Dry run: which model a create or edit would use, its price in credits "
        "and USD, and whether it would be allowed. Makes nothing and charges nothing.",
    )
    async def plan(
        ctx: Context[Any, Any],
        prompt: Prompt,
        operation: Literal["create", "edit"] = "create",
        input_asset_id: Annotated[str | None, Field(description="Required for edit.")] = None,
        model: Model = None,
        aspect_ratio: Aspect = None,
        intent: Intent = None,
        model_parameters: Params = None,
        max_usd: MaxUsd = None,
        accept_unknown_cost: Unknown = False,
    ) -> CallToolResult:
        chosen = options(
            model, aspect_ratio, intent, model_parameters, max_usd, accept_unknown_cost
        )

        def call(client: Client) -> Result:
            if operation == "edit":
                if not input_asset_id:
                    raise invalid_arguments(
                        "An edit plan needs input_asset_id.", field="input_asset_id"
                    )
                return client.edit(input_asset_id, prompt, dry_run=True, **chosen)
            return client.create(prompt, dry_run=True, **chosen)

        return await answer(backend, ctx, call)

    @server.tool(
        name="create",
        annotations=WRITES,
        description="Make a new image from a prompt; charges credits (see plan for the price). "
        "Returns the job with its assets as links to owned URLs.",
    )
    async def create(
        ctx: Context[Any, Any],
        prompt: Prompt,
        model: Model = None,
        aspect_ratio: Aspect = None,
        intent: Intent = None,
        model_parameters: Params = None,
        max_usd: MaxUsd = None,
        accept_unknown_cost: Unknown = False,
        wait: Wait = True,
        idempotency_key: IdemKey = None,
        thumbnail: Thumb = False,
    ) -> CallToolResult:
        chosen = options(
            model, aspect_ratio, intent, model_parameters, max_usd, accept_unknown_cost
        )
        return await answer(
            backend,
            ctx,
            lambda c: c.create(prompt, idempotency_key=idempotency_key, wait=wait, **chosen),
            thumbnail=thumbnail,
        )

    @server.tool(
        name="edit",
        annotations=WRITES,
        description="Make a new image from an owned one (upload a local image first); "
        "charges credits. Returns the job with its assets as links to owned URLs.",
    )
    async def edit(
        ctx: Context[Any, Any],
        input_asset_id: InputAsset,
        prompt: Prompt,
        model: Model = None,
        aspect_ratio: Aspect = None,
        intent: Intent = None,
        model_parameters: Params = None,
        max_usd: MaxUsd = None,
        accept_unknown_cost: Unknown = False,
        wait: Wait = True,
        idempotency_key: IdemKey = None,
        thumbnail: Thumb = False,
    ) -> CallToolResult:
        chosen = options(
            model, aspect_ratio, intent, model_parameters, max_usd, accept_unknown_cost
        )
        return await answer(
            backend,
            ctx,
            lambda c: c.edit(
                input_asset_id, prompt, idempotency_key=idempotency_key, wait=wait, **chosen
            ),
            thumbnail=thumbnail,
        )

    if isinstance(backend, LocalBackend):
        register_local(server, backend)
    else:
        register_remote(server, backend)


def register_local(server: MCPServer[Any], backend: LocalBackend) -> None:
    """``upload`` from a local path and ``get_asset`` that can save to one (stdio)."""

    @server.tool(
        name="upload",
        annotations=WRITES,
        description="Store a local image file (PNG, JPEG, WebP, GIF) as an owned asset, "
        "to edit it. Returns the asset id.",
    )
    async def upload(
        ctx: Context[Any, Any],
        path: Annotated[str, Field(description="Path of the image file on this machine.")],
    ) -> CallToolResult:
        source_path = os.path.expanduser(path)
        return await answer(
            backend, ctx, lambda c: _upload(c, read_local(source_path, flag="path"))
        )

    @server.tool(
        name="get_asset",
        annotations=WRITES,
        description="An owned asset's record and URL; with save_to, also download it "
        "(verified length and sha256) to that local path.",
    )
    async def get_asset(
        ctx: Context[Any, Any],
        asset_id: Annotated[str, Field(description="An owned asset id.")],
        save_to: Annotated[
            str | None, Field(description="Local file path to write the image to.")
        ] = None,
        overwrite: Annotated[bool, Field(description="Replace an existing file.")] = False,
        thumbnail: Thumb = False,
    ) -> CallToolResult:
        if save_to is None:
            return await answer(backend, ctx, lambda c: c.asset(asset_id), thumbnail=thumbnail)
        return await guarded(_get_and_save(backend, ctx, asset_id, save_to, overwrite))


async def _get_and_save(
    backend: LocalBackend, ctx: Context[Any, Any], asset_id: str, save_to: str, overwrite: bool
) -> CallToolResult:
    from image_skill.cli.saving import check_output, output_path

    output = output_path(save_to)
    check_output(output, overwrite=overwrite)
    found = await backend.run(ctx, lambda c: (c.asset(asset_id), c.base_url))
    result, base_url = found
    if not result.ok:
        return error_result(result.error or {})
    data = result.data if isinstance(result.data, dict) else {}
    inner = data.get("asset")
    asset: dict[str, Any] = inner if isinstance(inner, dict) else data
    saved = await backend.save(ctx, asset, output, overwrite=overwrite)
    return data_result({**data, "saved": saved}, base_url=base_url)


def register_remote(server: MCPServer[Any], backend: Backend) -> None:
    """``upload`` of base64 bytes and ``get_asset`` that returns the URL (Streamable HTTP)."""

    @server.tool(
        name="upload",
        annotations=WRITES,
        description="Store an image (PNG, JPEG, WebP, GIF) sent as base64 as an owned asset, "
        "to edit it. Bounded by the service's upload limit. Returns the asset id.",
    )
    async def upload(
        ctx: Context[Any, Any],
        bytes_base64: Annotated[str, Field(description="The image file's bytes, base64.")],
        filename: Annotated[str, Field(description="A name for the file.")] = "upload.png",
    ) -> CallToolResult:
        return await answer(backend, ctx, lambda c: _upload(c, decoded(bytes_base64, filename)))

    @server.tool(
        name="get_asset",
        annotations=READS,
        description="An owned asset's record and its URL (download it from there).",
    )
    async def get_asset(
        ctx: Context[Any, Any],
        asset_id: Annotated[str, Field(description="An owned asset id.")],
        thumbnail: Thumb = False,
    ) -> CallToolResult:
        return await answer(backend, ctx, lambda c: c.asset(asset_id), thumbnail=thumbnail)


def decoded(bytes_base64: str, filename: str) -> UploadSource:
    """The upload of ``bytes_base64`` (bounded before decoding; must look like an image)."""
    if len(bytes_base64) > (MAX_UPLOAD_BYTES * 4) // 3 + 4:
        raise invalid_arguments("The image is larger than the upload limit.", field="bytes_base64")
    try:
        content = pybase64.b64decode(bytes_base64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise invalid_arguments("bytes_base64 is not valid base64.", field="bytes_base64") from exc
    mime = image_mime(content, flag="bytes_base64", what="uploaded bytes")
    name = os.path.basename(filename.strip()) or "upload"
    return UploadSource("local_path", name[:200], None, mime, content)


def _upload(client: Client, source: UploadSource) -> Result:
    from image_skill.cli.uploads import upload_source

    result, _asset_id = upload_source(client, source)
    return result
