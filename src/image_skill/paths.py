"""Where Image Skill keeps its data and its CLI config (XDG, overridable).

The ``*_file``/``*_dir`` strings are worked out with ``os.path`` so the hosted CLI,
which only reads its config, never imports ``pathlib``; the ``Path`` forms are
for everyone else.
"""

from __future__ import annotations

import os

# Not ``typing.TYPE_CHECKING``: every CLI call imports this module (mypy reads the block).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path


def data_dir() -> str:
    """The local data directory: ``IMAGE_SKILL_HOME``, else the XDG data dir."""
    explicit = os.environ.get("IMAGE_SKILL_HOME")
    if explicit:
        return os.path.expanduser(explicit)
    xdg = os.environ.get("XDG_DATA_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "share"
    )
    return os.path.join(os.path.expanduser(xdg), "image-skill")


def config_file() -> str:
    """The CLI config file: ``IMAGE_SKILL_CONFIG_PATH``, else the XDG config dir."""
    explicit = os.environ.get("IMAGE_SKILL_CONFIG_PATH")
    if explicit:
        return os.path.expanduser(explicit)
    xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(os.path.expanduser(xdg), "image-skill", "config.json")


def data_home() -> Path:
    """``data_dir()`` as a ``Path``."""
    from pathlib import Path

    return Path(data_dir())


def config_path() -> Path:
    """``config_file()`` as a ``Path``."""
    from pathlib import Path

    return Path(config_file())
