"""Building the MCP server leaves the service's logging alone and lists every tool described."""

from __future__ import annotations

import logging

import anyio

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
