"""Argument parsing: argparse (stdlib, cheap to import), errors as envelopes.

Global flags (``--json``, ``--token``, ``--token-stdin``, ``--api-base-url``)
are accepted before or after the command words.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Iterable
from typing import Any, NoReturn

from image_skill.cli.usage import CliUsageError
from image_skill.contract.errors import ErrorCode, ImageSkillError

Handler = Callable[..., Any]


# argparse's words for a mistyped command or choice, e.g.
# "argument COMMAND: invalid choice: 'crete' (choose from 'create', 'edit')".
_INVALID_CHOICE = re.compile(
    r"^argument (?P<argument>\S+): invalid choice: '(?P<value>[^']*)' "
    r"\(choose from (?P<choices>.*)\)$"
)

# A command word or choice as typed; anything else is not echoed.
_WORD = re.compile(r"^[A-Za-z0-9._-]{1,40}$")


def did_you_mean(value: str, candidates: Iterable[str]) -> str | None:
    """The closest of ``candidates`` to a mistyped ``value`` (difflib), if any is close."""
    import difflib  # only a mistake pays for it

    close = difflib.get_close_matches(value, list(candidates), n=1, cutoff=0.6)
    return close[0] if close else None


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises instead of printing and exiting.

    Flags must be spelled in full: with abbreviations, ``--out`` would silently
    mean ``--output`` today and become ambiguous when a new flag is added.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        # argparse quotes the offending value; it may be a secret or a prompt.
        message = re.sub(r"(value: )'[^']*'", r"\1'…'", message)
        suggested: str | None = None
        choice = _INVALID_CHOICE.match(message)
        if choice is not None:
            value = choice["value"]
            if not _WORD.match(value):  # a prompt or URL typed where a word belongs: hidden
                message = message.replace(f"invalid choice: '{value}'", "invalid choice: '…'", 1)
            close = did_you_mean(value, re.findall(r"'([^']*)'", choice["choices"]))
            if close is not None:
                message += f". Did you mean '{close}'?"
                if not choice["argument"].startswith("-"):  # a command word, not a flag's value
                    suggested = f"{self.prog} {close} --help"
        text = message[:1].upper() + message[1:]
        raise CliUsageError(text if text.endswith("?") else text + ".", self.prog, suggested)


def unrecognized_arguments(
    command: str, parser: argparse.ArgumentParser, extras: list[str]
) -> ImageSkillError:
    """INVALID_ARGUMENTS naming each unknown flag (with the closest real one); values hidden.

    Values are never echoed (they may be a prompt or a secret), flags always are.
    """
    known = [o for action in parser._actions for o in action.option_strings if o.startswith("--")]
    flags = [item.split("=", 1)[0] for item in extras if item.startswith("-")]
    hidden = len(extras) - len(flags) + sum("=" in item for item in extras if item.startswith("-"))
    parts = [", ".join(flags[:6])] if flags else []
    if hidden:
        parts.append(f"{hidden} value{'s' if hidden > 1 else ''} (not shown)")
    message = f"Unrecognized arguments for {command}: {' and '.join(parts)}."
    suggestions = {flag: did_you_mean(flag, known) for flag in flags[:6]}
    guesses = {flag: close for flag, close in suggestions.items() if close}
    if len(guesses) == 1:
        message += f" Did you mean {next(iter(guesses.values()))}?"
    elif guesses:
        message += " Did you mean " + ", ".join(f"{c} (for {f})" for f, c in guesses.items()) + "?"
    return ImageSkillError(
        ErrorCode.INVALID_ARGUMENTS,
        message,
        recovery={"suggested_command": f"{command} --help"},
        details={"field": flags[0]} if flags else None,
    )


# The global options that take a value: the next argument (or ``--option=value``).
_VALUE_OPTIONS = frozenset({"--token", "--api-base-url"})


def command_word(argv: list[str]) -> str | None:
    """The first command word in ``argv``, read as the root parser reads it (None if none).

    Only a guess for choosing which command modules to load: a wrong guess
    fails to parse, and the caller then parses again with every command.
    """
    takes_value = False
    for item in argv:
        if takes_value:
            takes_value = False
        elif item == "--":
            return None
        elif item in _VALUE_OPTIONS:
            takes_value = True
        elif not item.startswith("-"):
            return item
    return None


def _global_options(parser: argparse.ArgumentParser, *, root: bool) -> None:
    default: Any = None if root else argparse.SUPPRESS
    flag_default: Any = False if root else argparse.SUPPRESS
    group = parser.add_argument_group("global options")
    group.add_argument(
        "--json",
        action="store_true",
        default=flag_default,
        help="print only the JSON envelope on stdout",
    )
    group.add_argument(
        "--token",
        default=default,
        metavar="TOKEN",
        help="agent token (prefer --token-stdin or IMAGE_SKILL_TOKEN)",
    )
    group.add_argument(
        "--token-stdin",
        action="store_true",
        default=flag_default,
        help="read the agent token from the first line of stdin",
    )
    group.add_argument(
        "--api-base-url",
        default=default,
        metavar="URL",
        help="service URL (default: run the service in-process)",
    )
    group.add_argument(
        "-h", "--help", action="store_true", default=flag_default, help="show help for this command"
    )


def common_parent() -> argparse.ArgumentParser:
    """The parent parser that gives every command the global flags."""
    parent = Parser(add_help=False)
    _global_options(parent, root=False)
    return parent


class Registrar:
    """Adds commands and groups with consistent names, help and defaults.

    It also keeps what it registered as data (names, summaries, parsers), so
    help and the tests read the command tree without walking argparse internals.
    """

    def __init__(self, root: argparse.ArgumentParser) -> None:
        self.parent = common_parent()
        self.subparsers = root.add_subparsers(
            dest="command_word", metavar="COMMAND", parser_class=Parser
        )
        self.groups: dict[str, Any] = {}
        # Command words -> parser and summary, in registration order (help's order).
        self.parsers: dict[tuple[str, ...], argparse.ArgumentParser] = {(): root}
        self.summaries: dict[tuple[str, ...], str] = {}
        self.commands: list[str] = []
        self.help_groups: list[str] = []

    def command(self, words: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        """Register the command ``words`` (e.g. ``"credits packs list"``)."""
        *group_words, leaf = words.split()
        container = self._container(group_words)
        parser = container.add_parser(
            leaf, help=help_text, description=help_text, parents=[self.parent], add_help=False
        )
        parser.set_defaults(
            handler=handler, command_name=f"image-skill {words}", command_parser=parser
        )
        self._record(words, parser, help_text)
        self.commands.append(f"image-skill {words}")
        return parser

    def group(
        self,
        words: str,
        help_text: str,
        *,
        default: Handler | None = None,
        default_words: str | None = None,
    ) -> argparse.ArgumentParser:
        """Register a command group; ``default`` runs when no subcommand is given."""
        *outer, leaf = words.split()
        container = self._container(outer)
        parser = container.add_parser(
            leaf, help=help_text, description=help_text, parents=[self.parent], add_help=False
        )
        parser.set_defaults(
            handler=default,
            command_parser=parser,
            command_name=f"image-skill {default_words or words}",
        )
        self.groups[words] = parser.add_subparsers(
            dest=f"{leaf}_word", metavar="SUBCOMMAND", parser_class=Parser
        )
        self._record(words, parser, help_text)
        if default is None:
            self.help_groups.append(f"image-skill {words}")
        return parser

    def listed_group(self, words: str, help_text: str, run_list: Handler, list_help: str) -> None:
        """Register a group whose bare name runs its ``list`` command, and that command."""
        self.group(words, help_text, default=run_list, default_words=f"{words} list")
        self.command(f"{words} list", run_list, list_help)

    def find(self, words: list[str]) -> argparse.ArgumentParser | None:
        """The parser of the command or group ``words`` (the root for none)."""
        return self.parsers.get(tuple(words))

    def children(self, words: tuple[str, ...]) -> list[str]:
        """The words directly under the group ``words``."""
        return [key[-1] for key in self.summaries if key[:-1] == words]

    def listing(self, words: tuple[str, ...]) -> list[tuple[str, str]]:
        """``(name, summary)`` of every group and command under ``words``, depth first."""
        found: list[tuple[str, str]] = []
        for child in self.children(words):
            key = (*words, child)
            found.append((" ".join(("image-skill", *key)), self.summaries[key]))
            found.extend(self.listing(key))
        return found

    def _record(self, words: str, parser: argparse.ArgumentParser, help_text: str) -> None:
        key = tuple(words.split())
        self.parsers[key] = parser
        self.summaries[key] = help_text

    def _container(self, group_words: list[str]) -> Any:
        return self.groups[" ".join(group_words)] if group_words else self.subparsers


def build_parser(register: Callable[[Registrar], None]) -> argparse.ArgumentParser:
    """The root parser with every command registered by ``register``."""
    root = Parser(
        prog="image-skill",
        add_help=False,
        description="Create, edit, inspect and reuse images from any agent.",
    )
    _global_options(root, root=True)
    root.add_argument("-v", "--version", action="store_true", help="print the version")
    registrar = Registrar(root)
    # Every parse carries the registrar, so help reads the command tree from it.
    root.set_defaults(
        handler=None, command_name="image-skill", command_parser=root, registrar=registrar
    )
    register(registrar)
    return root
