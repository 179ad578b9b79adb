"""One module per command group; only the module of the command being run is imported.

Each module registers the top-level command words listed beside it (a unit test
holds this table to what the modules really register). A command such as
``whoami`` then builds and imports only its own module's parsers; help, an
unknown word and anything unclear register every module, in help order.
"""

from __future__ import annotations

from importlib import import_module

# Not ``typing.TYPE_CHECKING``: ``cli.quick`` imports a command module without any
# parser, so this package imports neither argparse nor typing (mypy reads the block).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from image_skill.cli.parser import Registrar

# Every command module (under ``image_skill.cli.commands``) with the top-level words it
# registers, in the order help lists them.
MODULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("meta", ("help", "version")),
    ("guide", ("skill", "docs")),
    ("doctor", ("doctor",)),
    ("identity", ("signup", "whoami", "usage", "quota")),
    ("claim", ("claim",)),
    ("auth", ("auth",)),
    ("catalog", ("models", "capabilities")),
    ("creative", ("create", "upload", "edit")),
    ("assets_jobs", ("assets",)),
    ("jobs", ("jobs",)),
    ("credits", ("credits",)),
    ("activity", ("activity",)),
    ("feedback", ("feedback",)),
    ("webhooks", ("webhooks",)),
    ("serve", ("serve",)),
    ("worker", ("worker",)),
    ("mcp", ("mcp",)),
    ("daemon", ("daemon",)),
    ("admin", ("admin",)),
)

# ``help`` reads the whole command tree, so it never runs on a partial one.
_NEEDS_EVERY_MODULE = frozenset({"help"})


def _register(reg: Registrar, name: str) -> None:
    import_module(f"{__name__}.{name}").register(reg)


def register_all(reg: Registrar) -> None:
    """Register every command, in the order help lists them."""
    for name, _words in MODULES:
        _register(reg, name)


def owner_of(word: str) -> str | None:
    """The module that registers the top-level command ``word`` (None: unknown or help)."""
    if word in _NEEDS_EVERY_MODULE:
        return None
    return next((name for name, words in MODULES if word in words), None)


def register_one(name: str) -> Callable[[Registrar], None]:
    """A register function adding only the commands of the module ``name``."""
    return lambda reg: _register(reg, name)
