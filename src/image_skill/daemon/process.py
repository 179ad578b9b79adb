"""The daemon process: the embedded service app on a private unix socket.

Started by the CLI (``launcher.start``) as ``python -m image_skill.daemon`` with
the starting CLI's environment, so its settings are exactly the ones an
in-process embedded command would have used. It holds the run lock for its
whole life (a second daemon for the same directory exits at once), answers the
control paths under ``/_daemon/`` itself, and exits after
``IMAGE_SKILL_DAEMON_IDLE_SECONDS`` (default 600) without a request, or on
``/_daemon/stop`` or SIGTERM, removing its socket and pid file.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import gc
import json
import os
import socket
import sys
import time
from pathlib import Path

from image_skill import __version__
from image_skill.daemon.control import ControlledApp
from image_skill.daemon.files import (
    DEFAULT_IDLE_SECONDS,
    FINGERPRINT_ENV,
    IDLE_ENV,
    DaemonFiles,
    files_for,
    private_directory,
    seconds_setting,
)


def _hold_run_lock(files: DaemonFiles) -> int | None:
    """The run lock's descriptor, held until exit; None if another daemon holds it."""
    fd = os.open(files.run_lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _listen(files: DaemonFiles) -> socket.socket:
    """A listening socket at ``files.socket``, mode 0600 (bound relative: paths may be long)."""
    started_in = os.getcwd()  # relative paths in settings mean what they meant to the CLI
    os.chdir(files.directory)
    try:
        return _bind(files)
    finally:
        os.chdir(started_in)


def _bind(files: DaemonFiles) -> socket.socket:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(files.socket.name)  # stale: the run lock proved no daemon owns it
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    previous = os.umask(0o177)
    try:
        sock.bind(files.socket.name)
    finally:
        os.umask(previous)
    os.chmod(files.socket.name, 0o600)
    sock.listen(128)
    return sock


def _write_pid_file(files: DaemonFiles, fingerprint: str, idle: float) -> None:
    record = {
        "pid": os.getpid(),
        "fingerprint": fingerprint,
        "version": __version__,
        "started_at": time.time(),
        "idle_timeout_seconds": idle,
    }
    temporary = files.pid_file.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(record, handle)
    os.replace(temporary, files.pid_file)


def _remove_own_files(files: DaemonFiles) -> None:
    """Remove the socket and pid file, unless a newer daemon already replaced them."""
    try:
        record = json.loads(files.pid_file.read_text())
    except (OSError, ValueError):
        record = {}
    if isinstance(record, dict) and record.get("pid") == os.getpid():
        with contextlib.suppress(FileNotFoundError):
            os.unlink(files.pid_file)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(files.socket)


def _http_parser() -> str:
    """httptools (C) when installed, else h11, as ``serve`` chooses."""
    try:
        import httptools  # noqa: F401
    except ImportError:
        return "h11"
    return "httptools"


async def _serve(app: ControlledApp, sock: socket.socket, idle: float) -> None:
    import uvicorn

    config = uvicorn.Config(
        app,
        lifespan="on",
        log_level="warning",
        access_log=False,
        http=_http_parser(),
        ws="none",  # no websocket routes: uvicorn need not import its ws protocol
        timeout_keep_alive=30,
    )
    server = uvicorn.Server(config)
    app.on_stop = lambda: setattr(server, "should_exit", True)

    async def watch_idle() -> None:
        while not server.started and not server.should_exit:
            await asyncio.sleep(0.01)
        # Start-up objects live as long as the process: out of the collector's way.
        gc.freeze()
        gc.enable()
        while not server.should_exit:
            await asyncio.sleep(min(idle, 5.0))
            if app.idle_for() >= idle:
                server.should_exit = True

    watcher = asyncio.ensure_future(watch_idle())
    try:
        await server.serve(sockets=[sock])
    finally:
        watcher.cancel()


def main() -> int:
    """Run the daemon for ``IMAGE_SKILL_HOME``; 0 when it ran (or another already runs)."""
    home = os.environ.get("IMAGE_SKILL_HOME")
    fingerprint = os.environ.get(FINGERPRINT_ENV, "")
    if not home or not fingerprint:
        print("image_skill.daemon is started by the CLI, not by hand.", file=sys.stderr)
        return 2
    gc.disable()  # until serving: collections during the imports cost ~10-25 % of start-up
    files = files_for(Path(home))
    private_directory(files, create=True)
    lock = _hold_run_lock(files)
    if lock is None:
        return 0
    idle = seconds_setting(IDLE_ENV, DEFAULT_IDLE_SECONDS)
    sock = _listen(files)
    try:
        from image_skill.server import create_server_app
        from image_skill.service.data_dir_log import log_to_data_dir
        from image_skill.service.settings import Settings

        settings = Settings(embedded=True)
        log_to_data_dir(settings.home)
        app = ControlledApp(create_server_app(settings), fingerprint=fingerprint, idle=idle)
        _write_pid_file(files, fingerprint, idle)
        _run(app, sock, idle)
    finally:
        _remove_own_files(files)
        sock.close()
        os.close(lock)
    return 0


def _run(app: ControlledApp, sock: socket.socket, idle: float) -> None:
    try:
        import uvloop

        uvloop.run(_serve(app, sock, idle))
    except ImportError:
        asyncio.run(_serve(app, sock, idle))
