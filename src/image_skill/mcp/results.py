"""Shaping SDK answers into MCP tool results that an agent's context can afford.

MCP clients reject tool results over roughly 25,000 tokens, and an image sent
inline as base64 can cost millions. So a result is the envelope's ``data`` as
structured content (and the same JSON as text, for clients that read only
text), each image is a resource link to its owned URL, a thumbnail is added
only when the caller asks for one (``thumbnails``), and every result is held
under ``MAX_RESULT_CHARS``: long lists are cut (and the cut is said), and a
result that still does not fit is replaced by a notice. Failures are tool
errors (``isError``) carrying the stable code, message and recovery.
"""

from __future__ import annotations

import json
from typing import Any

from mcp_types import CallToolResult, ContentBlock, ImageContent, ResourceLink, TextContent

from image_skill.contract.errors import ErrorCode, ImageSkillError
from image_skill.result import Result

# The documented cap (docs/mcp.md): ~20,000 tokens at ~4 characters a token,
# measured on the whole serialized result (structured content, text and images).
MAX_RESULT_CHARS = 80_000


def error_result(error: ImageSkillError | dict[str, Any]) -> CallToolResult:
    """A tool error carrying the envelope's ``error`` (code, message, recovery, retryable)."""
    wire = error.to_error() if isinstance(error, ImageSkillError) else dict(error)
    text = f"{wire.get('code')}: {wire.get('message')}"
    recovery = wire.get("recovery") or {}
    if recovery:
        text += "\nrecovery: " + json.dumps(recovery, ensure_ascii=False)
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content={"error": wire},
        is_error=True,
    )


def unexpected_error() -> CallToolResult:
    """The tool error for a failure that is not the service's (nothing internal leaks)."""
    return error_result(
        ImageSkillError(
            ErrorCode.PUBLIC_CLI_FAILED,
            "The MCP tool hit an unexpected error.",
            recovery={"suggested_command": "image-skill doctor --json"},
        )
    )


def tool_result(
    result: Result, *, base_url: str | None = None, thumbnails: list[ImageContent] | None = None
) -> CallToolResult:
    """``result`` as a tool result: its data, links to its images, and any thumbnails asked for."""
    if not result.ok:
        return error_result(result.error or {"code": "PUBLIC_CLI_FAILED", "message": "Failed."})
    warnings = [str(w) for w in result.envelope.get("warnings") or []]
    return data_result(result.data, base_url=base_url, thumbnails=thumbnails, warnings=warnings)


def data_result(
    data: Any,
    *,
    base_url: str | None = None,
    thumbnails: list[ImageContent] | None = None,
    warnings: list[str] | None = None,
) -> CallToolResult:
    """A success result for ``data`` (a JSON object), held under ``MAX_RESULT_CHARS``."""
    structured = data if isinstance(data, dict) else {"result": data}
    links: list[ContentBlock] = list(asset_links(structured, base_url))
    extras: list[ContentBlock] = [*links, *(thumbnails or [])]
    if warnings:
        extras.append(TextContent(type="text", text="warnings: " + " | ".join(warnings)))
    shaped = _fit(structured, extras)
    if shaped is None:  # thumbnails or links alone over the cap: drop the thumbnails first
        shaped = _fit(structured, links) or _too_large(structured)
    return shaped


def asset_links(data: dict[str, Any], base_url: str | None) -> list[ResourceLink]:
    """One resource link per asset with a URL anywhere in ``data`` (outputs, input, asset)."""
    links: list[ResourceLink] = []
    seen: set[str] = set()
    for asset in assets_in(data):
        uri = absolute_url(asset.get("url"), base_url)
        if uri is None or uri in seen:
            continue
        seen.add(uri)
        size = asset.get("content_length")
        width, height = asset.get("width"), asset.get("height")
        links.append(
            ResourceLink(
                type="resource_link",
                uri=uri,
                name=str(asset.get("asset_id") or "asset"),
                mime_type=asset.get("mime_type")
                if isinstance(asset.get("mime_type"), str)
                else None,
                size=size if isinstance(size, int) else None,
                description=f"{width}x{height} image" if width and height else "owned image",
            )
        )
    return links


def assets_in(data: Any) -> list[dict[str, Any]]:
    """Every asset record (a dict with an ``asset_id`` and a ``url``) found in ``data``."""
    found: list[dict[str, Any]] = []
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("asset_id"), str) and isinstance(item.get("url"), str):
                found.append(item)
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return found


def absolute_url(url: Any, base_url: str | None) -> str | None:
    """``url`` made absolute against ``base_url`` when it is a service-relative path."""
    if not isinstance(url, str) or not url:
        return None
    if url.startswith("/") and not url.startswith("//"):
        return base_url.rstrip("/") + url if base_url else None
    return url


def result_size(result: CallToolResult) -> int:
    """Characters of ``result`` as it goes on the wire (what the cap measures)."""
    return len(result.model_dump_json(by_alias=True, exclude_none=True))


def _build(structured: dict[str, Any], extras: list[ContentBlock]) -> CallToolResult:
    text = json.dumps(structured, ensure_ascii=False, separators=(",", ":"))
    return CallToolResult(
        content=[TextContent(type="text", text=text), *extras], structured_content=structured
    )


def _fit(structured: dict[str, Any], extras: list[ContentBlock]) -> CallToolResult | None:
    """The result with long lists cut until it fits, or None if even empty lists do not fit."""
    result = _build(structured, extras)
    if result_size(result) <= MAX_RESULT_CHARS:
        return result
    trimmed = json.loads(json.dumps(structured))
    while True:
        path, items = _longest_list(trimmed)
        if items is None or not items:
            return None
        total = _cut_notes(trimmed).get(path, {}).get("of", len(items))
        del items[len(items) // 2 :]
        _cut_notes(trimmed)[path] = {"kept": len(items), "of": total}
        result = _build(trimmed, extras)
        if result_size(result) <= MAX_RESULT_CHARS:
            return result


def _cut_notes(data: dict[str, Any]) -> dict[str, Any]:
    notes = data.setdefault("mcp_truncated", {})
    assert isinstance(notes, dict)
    return notes


def _longest_list(data: Any, path: str = "") -> tuple[str, list[Any] | None]:
    """The path and value of the list with the longest JSON in ``data``."""
    best: tuple[str, list[Any] | None, int] = ("", None, -1)
    stack: list[tuple[str, Any]] = [(path, data)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, dict):
            stack.extend((f"{where}.{k}" if where else k, v) for k, v in item.items())
        elif isinstance(item, list):
            size = len(json.dumps(item))
            if item and size > best[2] and where != "mcp_truncated":
                best = (where, item, size)
            stack.extend((f"{where}[{i}]", v) for i, v in enumerate(item))
    return best[0], best[1]


def _too_large(structured: dict[str, Any]) -> CallToolResult:
    notice = {
        "mcp_truncated": True,
        "message": f"The result was over the {MAX_RESULT_CHARS}-character cap and was left out; "
        "ask for less (a smaller limit, one id at a time).",
        "keys": sorted(structured)[:50],
    }
    return _build(notice, [])
