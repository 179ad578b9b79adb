"""The MCP SDK's own client against our two transports, and the checks every result gets.

``stdio_session`` launches ``image-skill mcp`` as a subprocess with this test's
isolated environment; ``http_session`` talks Streamable HTTP to a real server's
``/mcp`` with a bearer token. ``call`` checks every result against the
documented size cap and that no full-size image rides along.
"""

from __future__ import annotations

import base64
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp_types import CallToolResult

from image_skill.mcp.results import MAX_RESULT_CHARS, result_size
from image_skill.mcp.thumbnails import MAX_BYTES, MAX_EDGE
from tests.support.images import open_image

MCP_COMMAND = [sys.executable, "-m", "image_skill", "mcp"]


@asynccontextmanager
async def stdio_session(env: dict[str, str] | None = None) -> AsyncIterator[Client]:
    """``image-skill mcp`` over stdio, with this process's environment plus ``env``."""
    params = StdioServerParameters(
        command=MCP_COMMAND[0], args=MCP_COMMAND[1:], env={**os.environ, **(env or {})}
    )
    async with Client(params, read_timeout_seconds=120) as client:
        yield client


@asynccontextmanager
async def http_session(base_url: str, token: str) -> AsyncIterator[Client]:
    """Streamable HTTP to ``base_url``/mcp with ``token`` as the bearer token."""
    headers = {"authorization": f"Bearer {token}"}
    async with httpx2.AsyncClient(headers=headers, timeout=120) as http:
        transport = streamable_http_client(base_url + "/mcp", http_client=http)
        async with Client(transport, read_timeout_seconds=120) as client:
            yield client


def checked(result: CallToolResult) -> CallToolResult:
    """``result`` after the checks every tool result must pass (cap, bounded thumbnails)."""
    assert result_size(result) <= MAX_RESULT_CHARS, result_size(result)
    for block in result.content:
        if block.type == "image":
            raw = base64.b64decode(block.data)
            assert len(raw) <= MAX_BYTES
            assert max(open_image(raw).size) <= MAX_EDGE
    return result


async def call(client: Client, tool: str, arguments: dict[str, Any]) -> CallToolResult:
    """Call ``tool`` and check its result."""
    return checked(await client.call_tool(tool, arguments))


async def ok(client: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Call ``tool``, require success, and return its structured content (the envelope's data)."""
    result = await call(client, tool, arguments)
    assert not result.is_error, result.content
    assert isinstance(result.structured_content, dict)
    return result.structured_content


async def refused(client: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Call ``tool``, require a tool error, and return the error object it carries."""
    result = await call(client, tool, arguments)
    assert result.is_error, result.content
    assert isinstance(result.structured_content, dict)
    error = result.structured_content["error"]
    assert isinstance(error, dict) and error["code"] and error["message"]
    assert str(error["code"]) in result.content[0].text  # type: ignore[union-attr]
    return error


def links(result: CallToolResult) -> list[str]:
    """The URIs of the resource links in ``result``."""
    return [str(block.uri) for block in result.content if block.type == "resource_link"]
