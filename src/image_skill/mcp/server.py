"""The MCP server: one ``MCPServer`` whose tools all call the SDK through a ``Backend``.

The image tools are in ``mcp.creative``; the catalog, account, job, activity
and feedback tools are here. Names and descriptions are written for a model
choosing among them: what each does, what it costs, what to call next.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import Field

from image_skill import __version__
from image_skill.mcp import creative
from image_skill.mcp.backend import Backend
from image_skill.mcp.calls import answer, coded_tool_errors

INSTRUCTIONS = (
    "Image Skill makes and edits images for you and keeps them as owned assets. "
    "Typical flow: list_models (or plan) to see models and prices, create or edit, "
    "then get_asset for the URL (over stdio it can also save the file to a path). "
    "Images come back as resource links to their URLs, never inline; pass thumbnail=true "
    "for a small preview. quota shows credits and spend. Errors carry a stable code and a "
    "recovery hint."
)
READS = ToolAnnotations(read_only_hint=True, open_world_hint=False)
JobId = Annotated[str, Field(description="A job id (job_...) from create or edit.")]
Limit = Annotated[int, Field(ge=1, le=100, description="At most this many items (1-100).")]
Cursor = Annotated[str | None, Field(description="next_cursor from a previous page.")]


def build_server(backend: Backend) -> MCPServer[Any]:
    """The MCP server with every tool, running its SDK calls through ``backend``."""
    # MCPServer() calls logging.basicConfig, which would put a (rich) handler on the
    # root logger of the whole service and reformat its telemetry lines; with a
    # handler present for the moment of construction, basicConfig changes nothing.
    root = logging.getLogger()
    placeholder = logging.NullHandler()
    root.addHandler(placeholder)
    try:
        server: MCPServer[Any] = MCPServer(
            "image-skill",
            version=__version__,
            instructions=INSTRUCTIONS,
            # Tools only: no resources to list or subscribe to.
            subscriptions=False,
        )
    finally:
        root.removeHandler(placeholder)
    server.middleware.append(coded_tool_errors)
    creative.register(server, backend)
    register_catalog(server, backend)
    register_jobs(server, backend)
    register_account(server, backend)
    return server


def register_catalog(server: MCPServer[Any], backend: Backend) -> None:
    """``list_models`` and ``show_model``."""

    @server.tool(
        name="list_models",
        annotations=READS,
        description="Every image model: provider, operations, whether it is configured here, "
        "price per image, and the default model for each operation.",
    )
    async def list_models(ctx: Context[Any, Any]) -> CallToolResult:
        return await answer(backend, ctx, lambda c: c.models())

    @server.tool(
        name="show_model",
        annotations=READS,
        description="One model in full, including model_parameters.schema: the JSON schema "
        "of the model_parameters that create, edit and plan accept for it.",
    )
    async def show_model(
        ctx: Context[Any, Any],
        model_id: Annotated[str, Field(description="A model id from list_models.")],
    ) -> CallToolResult:
        return await answer(backend, ctx, lambda c: c.model(model_id))


def register_jobs(server: MCPServer[Any], backend: Backend) -> None:
    """``job_status``, ``list_jobs``, ``wait_job`` and ``cancel_job``."""

    @server.tool(name="job_status", annotations=READS, description="One job as it is now.")
    async def job_status(ctx: Context[Any, Any], job_id: JobId) -> CallToolResult:
        return await answer(backend, ctx, lambda c: c.job(job_id))

    @server.tool(
        name="list_jobs", annotations=READS, description="This agent's jobs, newest first."
    )
    async def list_jobs(
        ctx: Context[Any, Any],
        limit: Limit = 20,
        cursor: Cursor = None,
        status: Annotated[
            str | None, Field(description="Only jobs in this status, e.g. queued, completed.")
        ] = None,
    ) -> CallToolResult:
        return await answer(
            backend, ctx, lambda c: c.jobs(limit=limit, cursor=cursor, status=status)
        )

    @server.tool(
        name="wait_job",
        annotations=READS,
        description="Wait (up to timeout_seconds, at most 60) for a job to finish; "
        "returns it finished or as it is at the timeout. Call again to keep waiting.",
    )
    async def wait_job(
        ctx: Context[Any, Any],
        job_id: JobId,
        timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 30,
        thumbnail: creative.Thumb = False,
    ) -> CallToolResult:
        return await answer(
            backend,
            ctx,
            lambda c: c.wait_job(job_id, timeout_seconds=timeout_seconds),
            thumbnail=thumbnail,
        )

    @server.tool(
        name="cancel_job",
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True),
        description="Cancel a queued job now, or ask a running one to stop; "
        "credits held for it are released.",
    )
    async def cancel_job(ctx: Context[Any, Any], job_id: JobId) -> CallToolResult:
        return await answer(backend, ctx, lambda c: c.cancel_job(job_id))


def register_account(server: MCPServer[Any], backend: Backend) -> None:
    """``quota``, ``activity`` and ``feedback``."""

    @server.tool(
        name="quota",
        annotations=READS,
        description="Credits left, spent today and in total (also in USD), the daily job cap "
        "and when it resets.",
    )
    async def quota(ctx: Context[Any, Any]) -> CallToolResult:
        return await answer(backend, ctx, lambda c: c.quota())

    @server.tool(
        name="activity",
        annotations=READS,
        description="The organization's activity ledger (jobs, charges, uploads...), newest "
        "first; subject narrows it to events about one id.",
    )
    async def activity(
        ctx: Context[Any, Any],
        limit: Limit = 20,
        subject: Annotated[
            str | None, Field(description="Only events about this id (job, asset...).")
        ] = None,
        cursor: Cursor = None,
    ) -> CallToolResult:
        return await answer(
            backend, ctx, lambda c: c.activity(limit=limit, subject=subject, cursor=cursor)
        )

    @server.tool(
        name="feedback",
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False),
        description="Tell the maintainers what went wrong or what was missing "
        "(a title or a body is required). Never include secrets.",
    )
    async def feedback(
        ctx: Context[Any, Any],
        title: Annotated[str | None, Field(description="Short, concrete title.")] = None,
        body: Annotated[
            str | None, Field(description="What happened, what was expected, why it matters.")
        ] = None,
        type: Annotated[
            str | None, Field(description="Kind of signal (default user_feedback).")
        ] = None,
        severity: Literal["low", "medium", "high", "critical"] | None = None,
        evidence: Annotated[
            list[str] | None, Field(description="References such as job:JOB_ID or trace:ID.")
        ] = None,
    ) -> CallToolResult:
        fields = {
            "title": title,
            "body": body,
            "type": type,
            "severity": severity,
            "evidence": evidence,
            "source": "mcp",
        }
        return await answer(backend, ctx, lambda c: c.feedback(**fields))
