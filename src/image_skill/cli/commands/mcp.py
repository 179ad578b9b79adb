"""``mcp``: serve the Model Context Protocol over stdio for a local agent (docs/mcp.md).

Desktop and coding agents (Claude Desktop and Code, Cursor, Codex...) launch
``image-skill mcp`` and talk MCP on its stdin/stdout. The service and token
are this command's own, resolved like every CLI command's (flags, environment,
saved config; embedded by default). The MCP SDK is imported only here, when
the command runs, so no other command pays for it.
"""

from __future__ import annotations

from argparse import Namespace
from typing import NoReturn

from image_skill.cli.context import Context
from image_skill.cli.parser import Registrar
from image_skill.contract.errors import invalid_arguments


def register(reg: Registrar) -> None:
    """Add ``mcp``."""
    reg.command(
        "mcp",
        run_mcp,
        "Serve MCP over stdio for a local agent (tools: plan, create, edit, upload, ...).",
    )


def run_mcp(context: Context, args: Namespace) -> NoReturn:
    """Serve until the client closes stdin; then exit without printing an envelope.

    stdout belongs to the protocol, so nothing else may be written there, not
    even the envelope every other command ends with: the process exits here.
    """
    from image_skill.mcp.stdio import serve_stdio

    if getattr(args, "token_stdin", False):
        raise invalid_arguments(
            "--token-stdin cannot be used with mcp: stdin carries the protocol. "
            "Use IMAGE_SKILL_TOKEN or a saved token (signup --save / auth save).",
            field="--token-stdin",
        )
    try:
        serve_stdio(context)
    except KeyboardInterrupt:
        pass
    finally:
        context.close()
    raise SystemExit(0)
