"""``cli.quick`` reads the hot commands exactly as argparse does, or leaves them to it.

Each accepted shape must give the Namespace the full parser gives (every field a
command, the runner or the CLI bridge reads); every other shape must be None,
so argparse answers it (help, errors, did-you-mean) as it always did.
"""

from __future__ import annotations

import pytest

from image_skill.cli.commands import register_all
from image_skill.cli.parser import build_parser
from image_skill.cli.quick import is_quick, quick_parse

ACCEPTED = [
    ["whoami"],
    ["whoami", "--json"],
    ["--json", "whoami"],
    ["quota", "--token", "tok"],
    ["--token=tok", "whoami", "--token-stdin"],
    ["--api-base-url", "http://127.0.0.1:9", "usage", "quota", "--json"],
    ["usage", "--json", "quota"],
    ["--api-base-url=https://h.example/x", "quota", "--token", "a=b"],
    ["whoami", "--api-base-url", "not a url"],
]

LEFT_TO_ARGPARSE = [
    [],
    ["--json"],
    ["whoami", "-h"],
    ["whoami", "--help"],
    ["--version", "whoami"],
    ["-v", "whoami"],
    ["whoami", "--json", "--json"],
    ["whoami", "--token", "a", "--token", "b"],
    ["whoami", "--js"],
    ["whoami", "--json=1"],
    ["whoami", "--token"],
    ["whoami", "--token", ""],
    ["whoami", "--token="],
    ["whoami", "--token", "-x"],
    ["whoami", "--api-base-url=--x"],
    ["whoami", "extra"],
    ["whoami", ""],
    ["whoamii"],
    ["usage"],
    ["usage", "quota", "now"],
    ["quota", "usage"],
    ["--", "whoami"],
    ["--token", "whoami"],
    ["whoami", "--token-stdin=1"],
]

# Set by the full parser for help and error messages only; a quick parse never needs them.
_PARSER_ONLY = {"command_parser", "registrar"}


@pytest.mark.parametrize("argv", ACCEPTED, ids=" ".join)
def test_a_plain_hot_command_reads_as_the_full_parser_reads_it(argv: list[str]) -> None:
    quick = quick_parse(argv)
    assert quick is not None and is_quick(argv)
    full, extras = build_parser(register_all).parse_known_args(argv)
    assert extras == []
    expected = {k: v for k, v in vars(full).items() if k not in _PARSER_ONLY}
    assert vars(quick) == expected


@pytest.mark.parametrize("argv", LEFT_TO_ARGPARSE, ids=lambda argv: " ".join(argv) or "(none)")
def test_anything_else_is_left_to_argparse(argv: list[str]) -> None:
    assert quick_parse(argv) is None and not is_quick(argv)
