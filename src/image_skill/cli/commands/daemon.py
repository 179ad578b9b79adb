"""``daemon status`` and ``daemon stop``: the embedded mode's warm local service.

Both act on the daemon of this machine's data directory (``IMAGE_SKILL_HOME``)
and never start one. ``stop`` is how to make a changed setting take effect at
once, free the database file, or end the process before its idle timeout.
"""

from __future__ import annotations

from argparse import Namespace
from typing import Any

from image_skill.cli.parser import Registrar
from image_skill.contract.errors import ErrorCode, ImageSkillError
from image_skill.result import Result


def register(reg: Registrar) -> None:
    """Add ``daemon status`` and ``daemon stop``."""
    reg.group("daemon", "The embedded mode's local service process (docs/embedded.md).")
    reg.command("daemon status", run_status, "Show whether the local daemon runs, and which.")
    reg.command("daemon stop", run_stop, "Stop the local daemon (the next command starts one).")


def _look() -> tuple[Any, Any]:
    """This data directory's daemon files and its handshake (None when none answers)."""
    from image_skill.daemon.files import DaemonUnsafe, files_for, private_directory
    from image_skill.daemon.launcher import DaemonFailed, probe
    from image_skill.paths import data_home

    files = files_for(data_home())
    try:
        if not private_directory(files, create=False):
            return files, None
        return files, probe(files)
    except (DaemonUnsafe, DaemonFailed, OSError) as exc:
        raise ImageSkillError(
            ErrorCode.LOCAL_FILE_ERROR,
            f"The local daemon could not be checked ({type(exc).__name__}).",
            recovery={"suggested_command": "image-skill doctor --json"},
        ) from None


def _describe(files: Any, hello: Any) -> dict[str, Any]:
    from image_skill.daemon.files import enabled, fingerprint

    data: dict[str, Any] = {
        "running": hello is not None,
        "enabled": enabled(),
        "socket": str(files.socket),
    }
    if hello is not None:
        info = hello.info
        data.update(
            pid=hello.pid,
            version=info.get("version"),
            current=info.get("fingerprint") == fingerprint(),
            started_at=info.get("started_at"),
            idle_seconds=info.get("idle_seconds"),
            idle_timeout_seconds=info.get("idle_timeout_seconds"),
            requests=info.get("requests"),
        )
    return data


def run_status(_context: Any, _args: Namespace) -> Result:
    """Whether a daemon answers for this data directory; ``current`` if commands would reuse it."""
    from image_skill.cli.runner import local_result

    files, hello = _look()
    return local_result("image-skill daemon status", _describe(files, hello))


def run_stop(_context: Any, _args: Namespace) -> Result:
    """Stop the daemon if one runs (it finishes requests in flight first)."""
    from image_skill.cli.runner import local_result
    from image_skill.daemon.launcher import stop

    files, hello = _look()
    data = _describe(files, hello)
    data["stopped"] = False
    if hello is not None:
        if not stop(files, hello):
            raise ImageSkillError(
                ErrorCode.LOCAL_FILE_ERROR,
                "The local daemon did not exit.",
                retryable=True,
            )
        data.update(stopped=True, running=False)
    return local_result("image-skill daemon stop", data)
