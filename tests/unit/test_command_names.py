"""``contract.commands`` names exactly what the CLI's registrar registers.

The service reads the names from the contract (it never imports the CLI), so a
command added, renamed or removed in the CLI must show up there too.
"""

from __future__ import annotations

from image_skill.cli.commands import register_all
from image_skill.cli.parser import Registrar, build_parser
from image_skill.contract import commands


def registrar() -> Registrar:
    found = build_parser(register_all).get_default("registrar")
    assert isinstance(found, Registrar)
    return found


def test_the_contract_lists_every_registered_command_in_help_order() -> None:
    registered = tuple(registrar().commands)
    assert registered == commands.COMMANDS, f"contract/commands.py: COMMANDS = {registered!r}"


def test_the_contract_lists_every_group_that_only_answers_with_help() -> None:
    registered = tuple(registrar().help_groups)
    assert registered == commands.HELP_GROUPS, f"contract/commands.py: HELP_GROUPS = {registered!r}"


def test_every_name_a_parse_can_answer_with_is_known() -> None:
    names = {parser.get_default("command_name") for parser in registrar().parsers.values()}
    assert names == commands.ALL_NAMES


def test_the_registrar_lists_help_depth_first() -> None:
    names = [name for name, _summary in registrar().listing(("credits",))]
    assert names[:3] == [
        "image-skill credits packs",
        "image-skill credits packs list",
        "image-skill credits quote",
    ]
