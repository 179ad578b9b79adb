"""One tool call: run SDK work through the backend and shape whatever comes back.

Every tool goes through ``answer``, so every tool has the same failure rules:
an envelope error or a raised ``ImageSkillError`` becomes a tool error with
its code, message and recovery; anything else becomes a generic tool error
(logged to stderr or the service log by type only, never its arguments).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mcp_types import CallToolResult, ImageContent

from image_skill.contract.errors import ErrorCode, ImageSkillError
from image_skill.mcp.results import assets_in, error_result, tool_result, unexpected_error
from image_skill.result import Result

if TYPE_CHECKING:
    from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
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


# A pydantic error line as the SDK words it: "  Input should be ... [type=..., input_value=...".
_DETAIL = re.compile(r"^\s+(?P<message>[^\[]+?)\s*(\[type=.*)?$")


async def coded_tool_errors(
    ctx: ServerRequestContext[Any, Any], call_next: CallNext
) -> HandlerResult:
    """Middleware: the SDK's own tool errors (bad arguments, an unknown tool) get a code too.

    Arguments the SDK refuses before a tool runs come back as bare text that
    repeats the values sent; they become ``INVALID_ARGUMENTS`` naming each field
    and what was wrong with it, never the value.
    """
    result = await call_next(ctx)
    # The handler's result arrives already in its wire shape (a dict, camelCase keys).
    if ctx.method != "tools/call" or not isinstance(result, dict):
        return result
    if not result.get("isError") or result.get("structuredContent") is not None:
        return result
    blocks = result.get("content") or []
    text = next((str(b.get("text")) for b in blocks if isinstance(b, dict) and "text" in b), "")
    message = argument_problems(text) + " Each tool's input schema is in tools/list."
    coded = error_result(ImageSkillError(ErrorCode.INVALID_ARGUMENTS, message))
    wire = coded.model_dump(mode="json", by_alias=True, exclude_none=True)
    return {**result, "content": wire["content"], "structuredContent": wire["structuredContent"]}


def argument_problems(text: str) -> str:
    """The SDK's refusal text as ``field: problem`` pairs, without the values sent."""
    lines = text.splitlines()
    if not lines:
        return "The tool call was refused."
    problems: list[str] = []
    field = None
    for line in lines[1:]:
        detail = _DETAIL.match(line)
        if detail is None:
            field = line.strip()
        elif field and "errors.pydantic.dev" not in line:
            problems.append(f"{field}: {detail['message'].strip()}")
    if problems:
        return "Invalid arguments: " + "; ".join(problems[:20]) + "."
    return lines[0][:300]
