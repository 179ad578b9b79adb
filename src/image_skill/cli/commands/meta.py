"""``help`` and ``version``: answered locally, no service needed."""

from __future__ import annotations

import argparse
from argparse import Namespace
from typing import Any

from image_skill import __version__
from image_skill.cli.parser import Registrar
from image_skill.client import Result
from image_skill.contract.errors import ImageSkillError


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
    import platform

    from image_skill.cli.runner import local_result

    data = {"version": __version__, "python": platform.python_version(), "api_version": "v1"}
    return local_result("image-skill version", data)


def help_result(args: Namespace, *, explicit: bool, topic: list[str] | None = None) -> Result:
    """Help for the command ``args`` names (or for ``topic``), as an envelope."""
    from image_skill.cli.runner import local_result, parser

    target: argparse.ArgumentParser = args.command_parser
    if topic is not None:
        # ``help`` with no words is the overview of every command.
        target = _find(parser(), topic)
    elif not explicit and target.prog != "image-skill":
        choices = ", ".join(_children(target))
        raise ImageSkillError(
            "INVALID_ARGUMENTS",
            f"'{target.prog}' needs a subcommand: {choices}.",
            recovery={"suggested_command": f"{target.prog} --help"},
        )
    data = {
        "usage": target.format_help(),
        "commands": [
            {"command": words, "summary": summary}
            for words, summary in _leaves(target, target.prog.removeprefix("image-skill").strip())
        ],
        "docs": ["README.md", "docs/cli.md", "docs/api.md"],
    }
    return local_result("image-skill help", data)


def _subparsers(parser: argparse.ArgumentParser) -> Any:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def _children(parser: argparse.ArgumentParser) -> list[str]:
    action = _subparsers(parser)
    return [] if action is None else list(action.choices)


def _leaves(parser: argparse.ArgumentParser, prefix: str) -> list[tuple[str, str]]:
    action = _subparsers(parser)
    if action is None:
        return []
    summaries = {choice.dest: choice.help for choice in action._choices_actions}
    found: list[tuple[str, str]] = []
    for name, child in action.choices.items():
        words = f"{prefix} {name}".strip()
        if name in summaries:
            found.append((f"image-skill {words}", summaries[name] or ""))
        found.extend(_leaves(child, words))
    return found


def _find(root: argparse.ArgumentParser, words: list[str]) -> argparse.ArgumentParser:
    node = root
    for word in words:
        action = _subparsers(node)
        if action is None or word not in action.choices:
            raise ImageSkillError(
                "INVALID_ARGUMENTS",
                f"No command '{' '.join(words)}'.",
                recovery={"suggested_command": "image-skill help"},
            )
        node = action.choices[word]
    return node
