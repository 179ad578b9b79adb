"""Where Image Skill keeps its data and its CLI config (XDG, overridable)."""

from __future__ import annotations

import os
from pathlib import Path


def data_home() -> Path:
    """The local data directory: ``IMAGE_SKILL_HOME``, else the XDG data dir."""
    explicit = os.environ.get("IMAGE_SKILL_HOME")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg).expanduser() / "image-skill"


def config_path() -> Path:
    """The CLI config file: ``IMAGE_SKILL_CONFIG_PATH``, else the XDG config dir."""
    explicit = os.environ.get("IMAGE_SKILL_CONFIG_PATH")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(xdg).expanduser() / "image-skill" / "config.json"
