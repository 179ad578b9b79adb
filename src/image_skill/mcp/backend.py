"""What a tool needs from its transport: an SDK client for this call, and local files or not.

The tools (``mcp.server``) are written once. Under stdio the client is the
CLI's own (embedded or hosted, resolved like any CLI command) and the agent's
files are local; under Streamable HTTP every call gets a client carrying that
request's bearer token, dispatched in-process to the running service, and no
path on the server's disk is ever read or written. Both run the synchronous
SDK in a worker thread so the MCP event loop stays free.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from mcp.server.mcpserver import Context

    from image_skill.client import Client

T = TypeVar("T")


class Backend(Protocol):
    """Runs SDK calls for one tool call."""

    async def run(self, ctx: Context[Any, Any], work: Callable[[Client], T]) -> T:
        """Run ``work`` with the client for this call, in a worker thread."""


@runtime_checkable
class LocalBackend(Backend, Protocol):
    """A backend on the agent's own machine (stdio): tools may read and write its paths."""

    async def save(
        self, ctx: Context[Any, Any], asset: dict[str, Any], path: str, *, overwrite: bool
    ) -> dict[str, Any]:
        """Download ``asset`` verified and write it to ``path``."""
