"""One tool call: run SDK work through the backend and shape whatever comes back.

Every tool goes through ``answer``, so every tool has the same failure rules:
an envelope error or a raised ``ImageSkillError`` becomes a tool error with
its code, message and recovery; anything else becomes a generic tool error
(logged to stderr or the service log by type only, never its arguments).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mcp_types import CallToolResult, ImageContent

from image_skill.contract.errors import ImageSkillError
from image_skill.mcp.results import assets_in, error_result, tool_result, unexpected_error
from image_skill.result import Result

if TYPE_CHECKING:
    from mcp.server.mcpserver import Context

    from image_skill.client import Client
    from image_skill.mcp.backend import Backend

log = logging.getLogger(__name__)


async def answer(
    backend: Backend,
    ctx: Context[Any, Any],
    call: Callable[[Client], Result],
    *,
    thumbnail: bool = False,
) -> CallToolResult:
    """Run ``call`` for this tool call and shape its result (a thumbnail only if asked)."""

    def work(client: Client) -> CallToolResult:
        result = call(client)
        thumbs, warnings = first_thumbnail(client, result) if thumbnail else ([], [])
        result.envelope["warnings"] = list(result.envelope.get("warnings") or []) + warnings
        return tool_result(result, base_url=client.base_url, thumbnails=thumbs)

    return await guarded(backend.run(ctx, work))


async def guarded(pending: Any) -> CallToolResult:
    """Await ``pending`` (a coroutine giving a CallToolResult); failures become tool errors."""
    try:
        result = await pending
    except ImageSkillError as exc:
        return error_result(exc)
    except Exception as exc:
        log.warning("MCP tool failed unexpectedly (%s)", type(exc).__name__)
        return unexpected_error()
    assert isinstance(result, CallToolResult)
    return result


def first_thumbnail(client: Client, result: Result) -> tuple[list[ImageContent], list[str]]:
    """A thumbnail of the result's first image, or a warning saying why there is none.

    A failed preview never fails the call: the image was made (and paid for).
    """
    from image_skill.mcp.thumbnails import thumbnail

    if not result.ok:
        return [], []
    assets = assets_in(result.data)
    if not assets:
        return [], ["No thumbnail: the result has no image yet."]
    try:
        return [thumbnail(client, assets[0])], []
    except ImageSkillError as exc:
        return [], [f"No thumbnail: {exc.message}"]
