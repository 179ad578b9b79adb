"""The usage guide that ships inside the package.

One set of texts serves every reader: ``image-skill skill`` prints the agent
guide, ``image-skill docs`` points at the files, and the service answers
``/skill.md``, ``/cli.md`` and ``/llms.txt`` with the same bytes. This module is
standard library only, so the CLI reads the guide without importing the service
and the service reads it without importing the CLI. The command sections are
generated from the CLI's registrar by ``image_skill.guide.build`` (a test holds
the committed files equal to a fresh build).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

# Guide name -> (file in this package, media type).
FILES: dict[str, tuple[str, str]] = {
    "skill": ("skill.md", "text/markdown"),
    "cli": ("cli.md", "text/markdown"),
    "llms": ("llms.txt", "text/plain"),
}


@cache
def read(name: str) -> str:
    """The text of the guide ``name`` (``skill``, ``cli`` or ``llms``)."""
    filename, _media_type = FILES[name]
    return resources.files(__package__).joinpath(filename).read_text(encoding="utf-8")


def media_type(name: str) -> str:
    """The media type the guide ``name`` is served with."""
    return FILES[name][1]


def local_path(name: str) -> str | None:
    """Where the guide ``name`` sits on disk, or None inside a zip import."""
    filename, _media_type = FILES[name]
    resource = resources.files(__package__).joinpath(filename)
    return str(resource) if isinstance(resource, Path) and resource.is_file() else None
