"""The hottest commands read without building a parser: ``whoami``, ``quota``, ``usage quota``.

Agents run these in tight loops, and building argparse parsers (with the
``shutil`` and ``gettext`` work argparse does for help text) costs a hosted call
more than its own request. ``quick_parse`` reads only the plainest shape of
each: the command words and the global flags, each at most once and spelt in
full, and answers with the attributes the full parser's Namespace would hold. Anything else
(help, ``--``, an unknown or repeated switch, a value that is empty
or starts with ``-``, another word) is None, and the caller parses with
argparse as before, so errors, help and suggestions read exactly as they did.
"""

from __future__ import annotations

# Not ``typing.TYPE_CHECKING``: this module exists to keep imports off the path.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from argparse import Namespace

# Command words -> the handler (in ``cli.commands.identity``) and the envelope's command.
_COMMANDS = {
    ("whoami",): ("run_whoami", "image-skill whoami"),
    ("quota",): ("run_quota", "image-skill quota"),
    ("usage", "quota"): ("run_quota", "image-skill usage quota"),
}
# The global flags (cli.parser._global_options) by their destination.
_SWITCHES = {"--json": "json", "--token-stdin": "token_stdin"}
_VALUED = {"--token": "token", "--api-base-url": "api_base_url"}


def is_quick(argv: list[str]) -> bool:
    """Whether ``argv`` is a plain hot command (read here, without argparse)."""
    return _read(argv) is not None


def quick_parse(argv: list[str]) -> Namespace | None:
    """What the full parser would make of ``argv``, if it is a plain hot command; else None."""
    read = _read(argv)
    if read is None:
        return None
    words, switches, values = read
    handler, command_name = _COMMANDS[tuple(words)]
    from types import SimpleNamespace

    from image_skill.cli.commands import identity

    identity.add_renderers()
    extra = {"usage_word": "quota"} if words[0] == "usage" else {}
    # argparse's Namespace is a plain attribute holder, as SimpleNamespace is (getattr,
    # vars, ==); importing argparse only to make one would cost this path ~2 ms.
    return SimpleNamespace(  # type: ignore[return-value]
        json=switches.get("json", False),
        token=values.get("token"),
        token_stdin=switches.get("token_stdin", False),
        api_base_url=values.get("api_base_url"),
        help=False,
        version=False,
        command_word=words[0],
        handler=getattr(identity, handler),
        command_name=command_name,
        **extra,
    )


def _read(argv: list[str]) -> tuple[list[str], dict[str, bool], dict[str, str]] | None:
    """The command words, switches and flag values of a plain hot command; else None."""
    switches: dict[str, bool] = {}
    values: dict[str, str] = {}
    words: list[str] = []
    items = iter(argv)
    for item in items:
        name, equals, value = item.partition("=")
        if item in _SWITCHES:
            if _SWITCHES[item] in switches:
                return None
            switches[_SWITCHES[item]] = True
        elif name in _VALUED:
            if not equals:
                value = next(items, "")
            if not value or value.startswith("-") or _VALUED[name] in values:
                return None
            values[_VALUED[name]] = value
        elif item.startswith("-") or not item:
            return None
        else:
            words.append(item)
    if tuple(words) not in _COMMANDS:
        return None
    return words, switches, values
