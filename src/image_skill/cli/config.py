"""The CLI's saved config: written atomically, mode 0600, never printed whole."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from image_skill.connection import load_config
from image_skill.contract.errors import ErrorCode, ImageSkillError
from image_skill.paths import config_path

__all__ = [
    "check_writable",
    "config_mode",
    "delete_config",
    "load_config",
    "save_config",
]


def save_config(values: dict[str, Any], path: Path | None = None) -> Path:
    """Replace the config atomically; the file is 0600 from its first byte."""
    target = path or config_path()
    try:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".config-", suffix=".tmp")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(values, handle, indent=2, sort_keys=True)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise _unwritable("Could not write the CLI config file.") from exc
    return target


def check_writable(path: Path | None = None) -> None:
    """LOCAL_FILE_ERROR now if the config could not be written later.

    ``signup --save`` calls this before asking for a token: signup revokes the
    previous token, so a token that cannot be saved would be lost.
    """
    target = path or config_path()
    try:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".config-check-"):
            pass
    except OSError as exc:
        raise _unwritable("The CLI config file cannot be written; nothing was changed.") from exc


def delete_config(path: Path | None = None) -> bool:
    """Remove the config; True if there was one."""
    target = path or config_path()
    try:
        target.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise ImageSkillError(
            ErrorCode.LOCAL_FILE_ERROR, "Could not remove the CLI config file."
        ) from exc
    return True


def config_mode(path: Path | None = None) -> int | None:
    """The file's permission bits, or None if it does not exist."""
    try:
        return (path or config_path()).stat().st_mode & 0o777
    except OSError:
        return None


def _unwritable(message: str) -> ImageSkillError:
    return ImageSkillError(
        ErrorCode.LOCAL_FILE_ERROR,
        message,
        recovery={"suggested_command": "image-skill doctor --json"},
    )
