"""Commands of the 0.1.0 surface that this build does not offer yet.

They parse (so scripts get a clean answer, never a usage crash) and answer
``PUBLIC_CLI_COMMAND_NOT_AVAILABLE`` (exit 2).
"""

from __future__ import annotations

from argparse import Namespace
from typing import Any

from image_skill.cli.parser import Registrar
from image_skill.client import Result
from image_skill.contract.errors import ImageSkillError

# Empty now that every 0.1.0 command has landed; kept for the next pending one.
PENDING_GROUPS: dict[str, str] = {}
PENDING_COMMANDS: dict[str, str] = {}


def register(reg: Registrar) -> None:
    """Add the not-yet-available commands."""
    for words, summary in PENDING_GROUPS.items():
        parser = reg.group(words, summary, default=not_available)
        parser.set_defaults(accepts_extra=True)
    for words, summary in PENDING_COMMANDS.items():
        parser = reg.command(words, not_available, summary)
        parser.set_defaults(accepts_extra=True)


def not_available(_context: Any, args: Namespace) -> Result:
    """The uniform answer of a command this build does not offer yet."""
    raise ImageSkillError(
        "PUBLIC_CLI_COMMAND_NOT_AVAILABLE",
        f"'{args.command_name}' is not available in this build yet.",
        recovery={"suggested_command": "image-skill help"},
    )
