"""The CLI's side of the daemon: reuse it, start it (once), replace it, stop it.

``local_transport`` is what an embedded command calls: the daemon's transport
when a daemon of this exact CLI build and environment answers (starting one
under the start lock if none does), or ``None`` to run the service in-process
as before (switched off, no unix sockets, an unsafe directory, or a daemon
that would not start; said on stderr when ``IMAGE_SKILL_DEBUG`` is set). An
embedded command never fails because the daemon did.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from image_skill.daemon.files import (
    DEFAULT_START_TIMEOUT_SECONDS,
    FINGERPRINT_ENV,
    START_TIMEOUT_ENV,
    DaemonFiles,
    DaemonUnsafe,
    enabled,
    files_for,
    fingerprint,
    private_directory,
    seconds_setting,
    socket_is_ours,
)
from image_skill.paths import data_home
from image_skill.transport.http import Dropped, Malformed
from image_skill.transport.unix import UnixTransport, connect_unix, exchange

_HELLO_TIMEOUT = 10.0
_STOP_WAIT = 10.0
_LOG_LIMIT = 1 << 20
# The CLI's credentials and server choice: the daemon never needs them.
_NOT_FOR_THE_DAEMON = frozenset(
    {"IMAGE_SKILL_TOKEN", "IMAGE_SKILL_HOSTED_TOKEN", "IMAGE_SKILL_API_BASE_URL"}
)


class DaemonFailed(Exception):
    """The daemon could not be reached or started; the command runs in-process."""


@dataclass(frozen=True)
class Hello:
    """A live daemon's handshake: its pid (from the kernel) and what it says of itself."""

    pid: int
    info: dict[str, Any]

    @property
    def fingerprint(self) -> str:
        """The fingerprint of the CLI that started it."""
        return str(self.info.get("fingerprint", ""))


def local_transport() -> UnixTransport | None:
    """The daemon's transport for this data directory, started if needed; None: run in-process."""
    if not enabled() or not hasattr(os, "posix_spawn") or not hasattr(socket, "SO_PEERCRED"):
        return None  # switched off, or not Linux-like (no spawn, or no peer check)
    try:
        return ensure_daemon(files_for(data_home()), fingerprint())
    except (OSError, DaemonUnsafe, DaemonFailed, Malformed, ValueError) as exc:
        _debug(f"the local daemon is not used ({type(exc).__name__}: {exc}); running in-process")
        return None


def ensure_daemon(files: DaemonFiles, wanted: str) -> UnixTransport:
    """A transport to a daemon started with ``wanted``: the running one, or a new one."""
    private_directory(files, create=True)
    found = probe(files)
    if found is not None and found.fingerprint == wanted:
        return UnixTransport(files.socket)
    with _start_lock(files):
        found = probe(files)  # another command may have started it meanwhile
        if found is not None and found.fingerprint == wanted:
            return UnixTransport(files.socket)
        if found is not None:
            if found.info.get("in_flight"):
                # Another environment's commands are running through it: replacing it
                # now would cut them off; this command runs in-process instead.
                raise DaemonFailed("The local daemon of another environment is busy.")
            _debug("the local daemon was started by another CLI build or environment; replacing it")
            if not stop(files, found):
                raise DaemonFailed("The old daemon did not exit.")
        start(files, wanted)
    return UnixTransport(files.socket)


def probe(files: DaemonFiles, timeout: float = _HELLO_TIMEOUT) -> Hello | None:
    """The live daemon's handshake, or None when no daemon answers (no or stale socket)."""
    if not socket_is_ours(files):
        return None
    try:
        sock, pid = connect_unix(files.socket, timeout)
    except (ConnectionRefusedError, FileNotFoundError):
        return None
    try:
        response = exchange(sock, "GET", "/_daemon/hello")
    except (ConnectionResetError, Dropped):
        return None  # it was stopping
    except Malformed:
        return Hello(pid, {})  # not our handshake: as a daemon of another build
    try:
        info = json.loads(response.body) if response.status == 200 else None
    except ValueError:
        info = None
    # A daemon that does not know this handshake is of another build: it gets replaced.
    return Hello(pid, info if isinstance(info, dict) else {})


def stop(files: DaemonFiles, hello: Hello) -> bool:
    """Ask the daemon to exit, wait for it, kill it if it will not; True once it is gone."""
    if not _is_daemon(hello.pid):
        return False  # whatever answers on the socket, it is not ours to stop or kill
    with contextlib.suppress(OSError, Dropped, Malformed):
        sock, _pid = connect_unix(files.socket, _HELLO_TIMEOUT)
        exchange(sock, "POST", "/_daemon/stop")
    if _wait_gone(hello.pid, _STOP_WAIT):
        return True
    with contextlib.suppress(ProcessLookupError):
        os.kill(hello.pid, signal.SIGKILL)
    return _wait_gone(hello.pid, 2.0)


def _is_daemon(pid: int) -> bool:
    """Whether ``pid`` runs ``image_skill.daemon`` (checked before a SIGKILL)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return b"image_skill.daemon" in handle.read()
    except OSError:
        return False


def start(files: DaemonFiles, wanted: str) -> Hello:
    """Start a daemon (the caller holds the start lock) and wait for its handshake."""
    if _run_lock_held(files):
        raise DaemonFailed("A daemon holds the run lock but does not answer.")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(files.socket)  # stale (kill -9): nobody holds the run lock
    pid = _spawn(files, wanted)
    deadline = time.monotonic() + seconds_setting(START_TIMEOUT_ENV, DEFAULT_START_TIMEOUT_SECONDS)
    while time.monotonic() < deadline:
        done, _status = os.waitpid(pid, os.WNOHANG)
        if done:
            raise DaemonFailed("The daemon exited while starting (see daemon/daemon.log).")
        found = probe(files, timeout=max(deadline - time.monotonic(), 0.1))
        if found is not None and found.pid == pid:
            return found
        time.sleep(0.01)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    raise DaemonFailed("The daemon did not answer in time.")


def _spawn(files: DaemonFiles, wanted: str) -> int:
    """``python -m image_skill.daemon`` in its own session; stderr to the daemon log."""
    with contextlib.suppress(OSError):
        if os.path.getsize(files.log) > _LOG_LIMIT:
            os.truncate(files.log, 0)
    env = {k: v for k, v in os.environ.items() if k not in _NOT_FOR_THE_DAEMON}
    env.update({"IMAGE_SKILL_HOME": str(files.home), FINGERPRINT_ENV: wanted})
    return os.posix_spawn(
        sys.executable,
        [sys.executable, "-m", "image_skill.daemon"],
        env,
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
            (os.POSIX_SPAWN_OPEN, 2, str(files.log), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600),
        ],
        setsid=True,
    )


def _run_lock_held(files: DaemonFiles) -> bool:
    import fcntl

    fd = os.open(files.run_lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases a lock we took
    return False


@contextlib.contextmanager
def _start_lock(files: DaemonFiles) -> Iterator[None]:
    """Held while one command checks and starts the daemon; others wait their turn."""
    import fcntl

    fd = os.open(files.start_lock, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + seconds_setting(START_TIMEOUT_ENV, DEFAULT_START_TIMEOUT_SECONDS)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise DaemonFailed("Another command is still starting the daemon.") from None
                time.sleep(0.01)
        yield
    finally:
        os.close(fd)


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap it if this process started it
        if not _alive(pid):
            return True
        time.sleep(0.01)
    return False


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie whose parent has not reaped it does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _debug(message: str) -> None:
    if os.environ.get("IMAGE_SKILL_DEBUG"):
        print(f"image-skill: {message}", file=sys.stderr)
