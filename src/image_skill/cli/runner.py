"""Runs one parsed command and turns every outcome into exactly one envelope."""

from __future__ import annotations

import os
import sys

from image_skill.cli.context import Context
from image_skill.cli.output import emit
from image_skill.cli.usage import CliUsageError
from image_skill.contract.envelope import failure, success
from image_skill.contract.errors import ErrorCode, ImageSkillError
from image_skill.contract.ids import new_trace_id
from image_skill.result import Result

# Not ``typing.TYPE_CHECKING``: argparse and the command modules are imported only when
# a command needs them (see ``parse``); mypy still reads the block.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from argparse import ArgumentParser, Namespace
    from collections.abc import Callable

    ContextFactory = Callable[[Namespace, str], Context]
    Guard = Callable[[Namespace], None]


def local_result(command: str, data: object, *, warnings: list[str] | None = None) -> Result:
    """A success envelope for work done without calling the service."""
    return Result(success(command, data, trace_id=new_trace_id(), warnings=warnings), 0)


def parser() -> ArgumentParser:
    """The full CLI parser."""
    from image_skill.cli.commands import register_all
    from image_skill.cli.parser import build_parser

    return build_parser(register_all)


def parse(argv: list[str]) -> tuple[Namespace, list[str]]:
    """Parse ``argv``, building (and importing) only the parsers of the command it names.

    A plain ``whoami`` or ``quota`` builds none (``cli.quick``). Any usage error
    parses again with every command, so errors, help and did-you-mean
    suggestions read exactly as they do with the whole tree.
    """
    from image_skill.cli.quick import quick_parse

    quick = quick_parse(argv)
    if quick is not None:
        return quick, []
    from image_skill.cli.commands import owner_of, register_one
    from image_skill.cli.parser import build_parser, command_word

    owner = owner_of(command_word(argv) or "")
    if owner is not None:
        try:
            return build_parser(register_one(owner)).parse_known_args(argv)
        except CliUsageError:
            pass
    return parser().parse_known_args(argv)


def run(argv: list[str]) -> int:
    """Parse ``argv``, run the command, print its envelope; returns the exit code."""
    json_mode = "--json" in argv
    result = execute(argv)
    return emit(result.envelope, result.exit_code, json_mode=json_mode)


def execute(
    argv: list[str],
    *,
    make_context: ContextFactory | None = None,
    guard: Guard | None = None,
) -> Result:
    """Parse ``argv`` and run the command; the envelope and exit code, nothing printed.

    ``make_context`` replaces the default ``Context(args, command)`` (the CLI
    bridge builds one that reads no config, environment or stdin); ``guard``
    sees the parsed arguments before anything runs and may raise an
    ``ImageSkillError`` to refuse the command.
    """
    command = "image-skill"
    context: Context | None = None
    try:
        args, extras = parse(argv)
        command = args.command_name
        if extras:
            from image_skill.cli.parser import unrecognized_arguments

            raise unrecognized_arguments(command, args.command_parser, extras)
        if guard is not None:
            guard(args)
        if getattr(args, "version", False) and not getattr(args, "help", False):
            # ``--version``/``-v`` only exist on the root parser, whose handler is None.
            from image_skill.cli.commands.meta import version_result

            command = "image-skill version"
            result = version_result(args)
        elif getattr(args, "help", False) or args.handler is None:
            from image_skill.cli.commands.meta import help_result

            result = help_result(args, explicit=getattr(args, "help", False))
        else:
            context = (make_context or Context)(args, command)
            result = context.explain(args.handler(context, args))
            if context.warnings:
                result.envelope["warnings"] = context.warnings + list(
                    result.envelope.get("warnings") or []
                )
        result.envelope["command"] = command
    except ImageSkillError as exc:
        from image_skill.contract.tokens import scrub

        # argparse and help echo what was typed; a token typed in the wrong place must not leak.
        exc.message = scrub(exc.message)
        if isinstance(exc, CliUsageError):
            command = exc.prog  # the (sub)command whose arguments were wrong
        result = Result(failure(command, exc, trace_id=new_trace_id()), exc.exit_code)
    except KeyboardInterrupt:
        interrupted = ImageSkillError(ErrorCode.PUBLIC_CLI_FAILED, "Interrupted.")
        result = Result(failure(command, interrupted, trace_id=new_trace_id()), 130)
    except Exception:
        if os.environ.get("IMAGE_SKILL_DEBUG"):
            import traceback

            traceback.print_exc(file=sys.stderr)
        crash = ImageSkillError(
            ErrorCode.PUBLIC_CLI_FAILED,
            "The CLI hit an unexpected error (set IMAGE_SKILL_DEBUG=1 for details on stderr).",
            recovery={"suggested_command": "image-skill feedback create --json"},
        )
        result = Result(failure(command, crash, trace_id=new_trace_id()), crash.exit_code)
    finally:
        if context is not None:
            context.close()
    return result
