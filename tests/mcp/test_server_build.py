"""Building the MCP server leaves the service's logging alone and lists every tool described."""

from __future__ import annotations

import logging

import anyio
from mcp import Client

from image_skill.mcp.http import HttpBackend
from image_skill.mcp.server import build_server


def test_building_the_server_adds_no_handler_to_the_root_logger() -> None:
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    build_server(HttpBackend())
    assert (list(root.handlers), root.level) == before


def test_every_tool_has_a_description_and_an_object_schema() -> None:
    tools = anyio.run(build_server(HttpBackend()).list_tools)
    assert len(tools) == 14
    for tool in tools:
        assert tool.description and len(tool.description) > 20, tool.name
        assert tool.input_schema["type"] == "object"
    create = next(tool for tool in tools if tool.name == "create")
    assert create.input_schema["properties"]["thumbnail"]["default"] is False
    assert "ctx" not in create.input_schema["properties"]


def test_arguments_the_sdk_refuses_are_invalid_arguments_without_their_values() -> None:
    async def calls() -> list[dict[str, object]]:
        async with Client(build_server(HttpBackend())) as client:
            results = [
                await client.call_tool("create", {"prompt": 5, "model_parameters": "SECRET-1"}),
                await client.call_tool("list_jobs", {"limit": 100_000}),
                await client.call_tool("no_such_tool", {}),
            ]
        errors = []
        for result in results:
            assert result.is_error and isinstance(result.structured_content, dict)
            errors.append(result.structured_content["error"])
        return errors

    bad_types, too_many, unknown = anyio.run(calls)
    for error in (bad_types, too_many, unknown):
        assert error["code"] == "INVALID_ARGUMENTS"
    assert "prompt" in str(bad_types["message"]) and "model_parameters" in str(bad_types["message"])
    assert "SECRET-1" not in str(bad_types) and "100000" not in str(too_many)
    assert "no_such_tool" in str(unknown["message"])
