"""``image-skill mcp``: the MCP server over stdio, for one local agent.

The SDK client is the CLI command's own (``cli.context.Context``): the service
and token are resolved exactly as for any CLI command, embedded by default.
stdout carries only the protocol; logs go to stderr. The embedded service runs
on its own event loop, so SDK calls run one at a time in a worker thread.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.to_thread

from image_skill.mcp.server import build_server

if TYPE_CHECKING:
    from mcp.server.mcpserver import Context

    from image_skill.cli.context import Context as CliContext
    from image_skill.client import Client

T = TypeVar("T")


class StdioBackend:
    """The CLI context's client, for every call, one call at a time."""

    def __init__(self, context: CliContext) -> None:
        self.context = context
        self._lock = threading.Lock()

    def _locked(self, work: Callable[[Client], T]) -> T:
        with self._lock:
            return work(self.context.client())

    async def run(self, ctx: Context[Any, Any], work: Callable[[Client], T]) -> T:
        """Run ``work`` with the CLI's client in a worker thread."""
        return await anyio.to_thread.run_sync(self._locked, work)

    async def save(
        self, ctx: Context[Any, Any], asset: dict[str, Any], path: str, *, overwrite: bool
    ) -> dict[str, Any]:
        """Save ``asset`` to ``path`` with the checks of ``assets get --output``."""
        from image_skill.cli.saving import save_asset

        def work(_client: Client) -> dict[str, Any]:
            return save_asset(self.context, asset, path, overwrite=overwrite)

        return await self.run(ctx, work)


def serve_stdio(context: CliContext) -> None:
    """Serve MCP on stdin/stdout until the client closes it."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("image-skill mcp: %(levelname)s %(name)s %(message)s"))
    logging.getLogger("image_skill.mcp").addHandler(handler)
    server = build_server(StdioBackend(context))
    anyio.run(server.run_stdio_async)
