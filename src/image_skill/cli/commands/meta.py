"""``help`` and ``version``: answered locally, no service needed."""

from __future__ import annotations

import argparse
from argparse import Namespace
from typing import Any

from image_skill.cli.parser import Registrar
from image_skill.contract.errors import ErrorCode, ImageSkillError
from image_skill.result import Result


def register(reg: Registrar) -> None:
    """Add ``help`` and ``version``."""
    help_parser = reg.command("help", _help_command, "Show commands, or help for one command.")
    help_parser.add_argument("topic", nargs="*", help="command words, e.g. 'credits quote'")
    reg.command("version", _version_command, "Print the CLI version.")


def _help_command(_context: Any, args: Namespace) -> Result:
    return help_result(args, explicit=True, topic=list(args.topic))


def _version_command(_context: Any, args: Namespace) -> Result:
    return version_result(args)


def version_result(_args: Namespace) -> Result:
    """The version envelope."""
    from image_skill.cli.main import version_data
    from image_skill.cli.runner import local_result

    return local_result("image-skill version", version_data())


def help_result(args: Namespace, *, explicit: bool, topic: list[str] | None = None) -> Result:
    """Help for the command ``args`` names (or for ``topic``), as an envelope."""
    from image_skill.cli.runner import local_result

    registrar: Registrar = args.registrar
    target: argparse.ArgumentParser = args.command_parser
    if topic is not None:
        # ``help`` with no words is the overview of every command.
        found = registrar.find(topic)
        if found is None:
            raise ImageSkillError(
                ErrorCode.INVALID_ARGUMENTS,
                f"No command '{' '.join(topic)}'.",
                recovery={"suggested_command": "image-skill help"},
            )
        target = found
    words = tuple(target.prog.split()[1:])
    if topic is None and not explicit and words:
        choices = ", ".join(registrar.children(words))
        raise ImageSkillError(
            ErrorCode.INVALID_ARGUMENTS,
            f"'{target.prog}' needs a subcommand: {choices}.",
            recovery={"suggested_command": f"{target.prog} --help"},
        )
    data = {
        "usage": target.format_help(),
        "commands": [
            {"command": name, "summary": summary} for name, summary in registrar.listing(words)
        ],
        # What ships with every install: the guide commands, and the same texts a server serves.
        "docs": [
            "image-skill skill",
            "image-skill docs",
            "/skill.md",
            "/cli.md",
            "/llms.txt",
            "/docs",
        ],
    }
    return local_result("image-skill help", data)
