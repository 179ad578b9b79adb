"""A command parsed on its own module's parsers reads exactly as on the whole tree.

The CLI imports only the module that owns the command word being run
(``cli.commands.MODULES``); these hold that table to what each module registers
and every command's help, name and listing to the full parser's.
"""

from __future__ import annotations

import argparse

from image_skill.cli import output
from image_skill.cli.commands import MODULES, owner_of, register_all, register_one
from image_skill.cli.parser import Registrar, build_parser, command_word
from image_skill.contract import commands


def registrar(parser: argparse.ArgumentParser) -> Registrar:
    found = parser.get_default("registrar")
    assert isinstance(found, Registrar)
    return found


def test_each_module_registers_exactly_the_words_the_table_gives_it() -> None:
    for name, words in MODULES:
        found = registrar(build_parser(register_one(name)))
        assert tuple(found.children(())) == words, name
    every = [word for _name, words in MODULES for word in words]
    assert every == registrar(build_parser(register_all)).children(())


def test_every_command_reads_the_same_on_its_own_module() -> None:
    full = build_parser(register_all)
    checked = 0
    for name in sorted(commands.ALL_NAMES - {commands.ROOT}):
        words = name.split()[1:]
        owner = owner_of(words[0])
        if owner is None:
            assert words[0] == "help"
            continue
        partial = registrar(build_parser(register_one(owner)))
        alone, whole = partial.find(words), registrar(full).find(words)
        assert alone is not None and whole is not None, name
        assert alone.get_default("command_name") == whole.get_default("command_name")
        assert alone.format_help() == whole.format_help()
        assert partial.listing(tuple(words)) == registrar(full).listing(tuple(words))
        checked += 1
    assert checked > 40


def test_the_command_word_is_found_past_global_options_and_their_values() -> None:
    assert command_word(["--json", "--token", "whoami", "quota"]) == "quota"
    assert command_word(["--api-base-url", "http://h", "--token-stdin", "whoami"]) == "whoami"
    assert command_word(["--token=x", "whoami"]) == "whoami"
    assert command_word(["--json"]) is None
    assert command_word(["--", "whoami"]) is None


def test_each_module_renders_only_its_own_commands() -> None:
    """A command run on its own module still finds its human renderer."""
    renderers = output.HUMAN_RENDERERS  # the dict every module fills at registration
    saved = dict(renderers)
    try:
        for name, words in MODULES:
            renderers.clear()
            build_parser(register_one(name))
            for command in renderers:
                assert command.split()[1] in words, (name, command)
    finally:
        renderers.clear()
        renderers.update(saved)
