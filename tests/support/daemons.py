"""Finding and ending the embedded daemons a test started, so none outlives its test."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path


def daemon_pids(home: Path) -> list[int]:
    """Pids of live ``image_skill.daemon`` processes serving the data directory ``home``."""
    wanted = f"IMAGE_SKILL_HOME={os.path.abspath(home)}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            environ = Path(f"/proc/{entry}/environ").read_bytes()
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"image_skill.daemon" in cmdline and wanted in environ.split(b"\0") and state != "Z":
            found.append(int(entry))
    return found


def gone(pid: int, seconds: float = 10.0) -> bool:
    """Whether ``pid`` exits (or is a zombie) within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.02)
    return False


def kill_daemons(home: Path) -> None:
    """SIGKILL every daemon of ``home`` (test teardown)."""
    for pid in daemon_pids(home):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        gone(pid, 5.0)
