"""Where a data directory's daemon lives, who may use it, and which CLI it serves.

Everything sits in ``<home>/daemon`` (mode 0700): the socket (0600), the pid
file, the start lock (two first commands start one daemon) and the run lock
(held by the live daemon for its whole life, so a kill -9 frees it at once and a
stale socket is recognised). Anyone who can connect to the socket is the local
owner with no token, so the directory and the socket must belong to this user.

The fingerprint names the CLI build and the environment the service was started
with: an upgraded CLI, or a changed provider key or setting, must never be
answered by a service started before the change.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from image_skill import __version__

SWITCH_ENV = "IMAGE_SKILL_EMBEDDED_DAEMON"
IDLE_ENV = "IMAGE_SKILL_DAEMON_IDLE_SECONDS"
START_TIMEOUT_ENV = "IMAGE_SKILL_DAEMON_START_TIMEOUT_SECONDS"
FINGERPRINT_ENV = "IMAGE_SKILL_DAEMON_FINGERPRINT"
DEFAULT_IDLE_SECONDS = 600.0
DEFAULT_START_TIMEOUT_SECONDS = 30.0
# Variables the service (settings, provider adapters, HTTP clients) reads at start.
_SERVICE_ENV_PREFIXES = (
    "IMAGE_SKILL_",
    "OPENAI_",
    "XAI_",
    "FAL_",
    "STRIPE_",
    "OTEL_",
    "AWS_",
    "HF_",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "SSL_CERT",
)
# IMAGE_SKILL_ variables only the CLI reads: changing them must not restart the service.
_CLI_ONLY_ENV = frozenset(
    {
        "IMAGE_SKILL_TOKEN",
        "IMAGE_SKILL_HOSTED_TOKEN",
        "IMAGE_SKILL_API_BASE_URL",
        "IMAGE_SKILL_CONFIG_PATH",
        "IMAGE_SKILL_DEBUG",
        "IMAGE_SKILL_DOWNLOAD_TIMEOUT_SECONDS",
        SWITCH_ENV,
        START_TIMEOUT_ENV,
        FINGERPRINT_ENV,
    }
)


class DaemonUnsafe(Exception):
    """The daemon's directory or socket is not private to this user; it is not used."""


@dataclass(frozen=True)
class DaemonFiles:
    """The daemon files of one data directory."""

    home: Path

    @property
    def directory(self) -> Path:
        """``<home>/daemon``."""
        return self.home / "daemon"

    @property
    def socket(self) -> Path:
        """The unix socket the service listens on."""
        return self.directory / "daemon.sock"

    @property
    def pid_file(self) -> Path:
        """JSON: pid, fingerprint, version, started_at (informational)."""
        return self.directory / "daemon.json"

    @property
    def start_lock(self) -> Path:
        """Held by a CLI while it starts the daemon."""
        return self.directory / "start.lock"

    @property
    def run_lock(self) -> Path:
        """Held by the live daemon for its whole life."""
        return self.directory / "run.lock"

    @property
    def log(self) -> Path:
        """The daemon's stderr (start-up failures)."""
        return self.directory / "daemon.log"


def enabled() -> bool:
    """Whether embedded commands use the daemon (``IMAGE_SKILL_EMBEDDED_DAEMON`` is not 0)."""
    value = os.environ.get(SWITCH_ENV, "").strip().lower()
    return value not in ("0", "false", "no", "off")


def seconds_setting(name: str, default: float) -> float:
    """A positive number of seconds from the environment, else ``default``."""
    try:
        value = float(os.environ.get(name, "").strip())
    except ValueError:
        return default
    return value if 0 < value < float("inf") else default


def files_for(home: Path) -> DaemonFiles:
    """The daemon files of ``home`` (made absolute: the daemon runs elsewhere)."""
    return DaemonFiles(Path(os.path.abspath(home)))


def private_directory(files: DaemonFiles, *, create: bool) -> bool:
    """Make sure the daemon directory is this user's alone (0700); False if it is absent.

    Raises ``DaemonUnsafe`` when it is not a directory or belongs to another user.
    """
    if create:
        files.home.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.mkdir(files.directory, 0o700)
    try:
        info = os.lstat(files.directory)
    except FileNotFoundError:
        return False
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise DaemonUnsafe("The daemon directory is not a directory owned by this user.")
    if info.st_mode & 0o077:
        os.chmod(files.directory, 0o700)
    return True


def socket_is_ours(files: DaemonFiles) -> bool:
    """True if the socket exists and is this user's; False if absent; else ``DaemonUnsafe``."""
    try:
        info = os.lstat(files.socket)
    except FileNotFoundError:
        return False
    if not stat.S_ISSOCK(info.st_mode) or info.st_uid != os.getuid():
        raise DaemonUnsafe("The daemon socket is not a socket owned by this user.")
    return True


def _install_stamp() -> str:
    """The package's location, file count and newest modification time (changes on upgrade)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    newest = 0
    count = 0
    for directory, _dirs, names in os.walk(root):
        for name in names:
            if name.endswith(".py"):
                count += 1
                newest = max(newest, os.stat(os.path.join(directory, name)).st_mtime_ns)
    return f"{root}|{count}|{newest}"


def _service_environment() -> str:
    """The variables the service reads, as one string (hashed, never stored)."""
    chosen = sorted(
        f"{name}={value}"
        for name, value in os.environ.items()
        if name.upper().startswith(_SERVICE_ENV_PREFIXES) and name not in _CLI_ONLY_ENV
    )
    return "\0".join(chosen)


def fingerprint() -> str:
    """This CLI's version, interpreter, install and service environment, hashed."""
    parts = (__version__, sys.executable, _install_stamp(), _service_environment())
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]
