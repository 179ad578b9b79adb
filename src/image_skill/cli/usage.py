"""``CliUsageError``: bad command-line usage, kept apart from the argparse parser.

The runner turns it into an envelope naming the (sub)command whose arguments
were wrong; it lives here so the runner can recognise it on a command read
without any parser (``cli.quick``), without importing argparse.
"""

from __future__ import annotations

from image_skill.contract.errors import ErrorCode, ImageSkillError


class CliUsageError(ImageSkillError):
    """Bad command-line usage (exit 2), carrying the parser that complained."""

    def __init__(self, message: str, prog: str, suggested_command: str | None = None) -> None:
        super().__init__(
            ErrorCode.INVALID_ARGUMENTS,
            message,
            recovery={"suggested_command": suggested_command or f"{prog} --help"},
        )
        self.prog = prog
