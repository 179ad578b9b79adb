"""The embedded CLI's warm daemon, through the real CLI and real processes.

The suite runs embedded commands in-process (conftest sets
IMAGE_SKILL_EMBEDDED_DAEMON=0); these tests switch the daemon on, and the
``daemon`` fixture kills whatever daemon a test left, so none outlives it.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from image_skill.daemon.files import files_for
from image_skill.daemon.launcher import start
from tests.support.cli import CLI, RunCli, expect
from tests.support.daemons import daemon_pids, gone, kill_daemons

ON = {"IMAGE_SKILL_EMBEDDED_DAEMON": "1", "IMAGE_SKILL_DAEMON_IDLE_SECONDS": "120"}


@pytest.fixture
def home(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The test's data directory, with the daemon switched on; its daemons killed after."""
    for name, value in ON.items():
        monkeypatch.setenv(name, value)
    data = isolated_home / "data"
    yield data
    kill_daemons(data)


def run(cli: RunCli, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    return expect(cli(*args, "--json", env=env), 0)


def status(cli: RunCli) -> dict[str, Any]:
    data: dict[str, Any] = run(cli, "daemon", "status")["data"]
    return data


def test_the_first_command_starts_it_and_the_next_reuses_it(cli: RunCli, home: Path) -> None:
    assert status(cli)["running"] is False  # status never starts one
    first = run(cli, "whoami")
    [pid] = daemon_pids(home)
    second = run(cli, "whoami")
    assert daemon_pids(home) == [pid]
    now = status(cli)
    assert now["running"] is True and now["pid"] == pid and now["current"] is True
    assert now["requests"] >= 2
    # The same local owner as in-process, with no token.
    in_process = run(cli, "whoami", env={"IMAGE_SKILL_EMBEDDED_DAEMON": "0"})
    assert first["actor"] == second["actor"] == in_process["actor"]
    assert first["actor"]["actor_type"] == "human"


def test_owner_only_permissions(cli: RunCli, home: Path) -> None:
    files = files_for(home)
    files.home.mkdir(parents=True)
    files.directory.mkdir(mode=0o777)
    os.chmod(files.directory, 0o777)
    run(cli, "whoami")
    assert stat.S_IMODE(os.stat(files.directory).st_mode) == 0o700
    info = os.lstat(files.socket)
    assert stat.S_ISSOCK(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600
    assert info.st_uid == os.getuid()


@pytest.mark.slow
def test_create_saves_output_with_file_urls_and_errors_match(
    cli: RunCli, home: Path, tmp_path: Path
) -> None:
    out = tmp_path / "fox.png"
    created = run(
        cli, "create", "--model", "local.sketch", "--prompt", "a fox", "--output", str(out)
    )
    assert created["data"]["job_id"].startswith("job_")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    [asset] = created["data"]["assets"]
    assert asset["url"].startswith("file://")
    got = tmp_path / "got.png"
    run(cli, "assets", "get", asset["asset_id"], "--output", str(got))
    assert got.read_bytes() == out.read_bytes()
    # A refusal is the same envelope and exit code through the daemon as in-process.
    missing = cli("jobs", "show", "job_doesnotexist", "--json")
    direct = cli(
        "jobs", "show", "job_doesnotexist", "--json", env={"IMAGE_SKILL_EMBEDDED_DAEMON": "0"}
    )
    assert missing.exit_code == direct.exit_code != 0
    assert missing.code == direct.code
    assert len(daemon_pids(home)) == 1


def test_status_and_stop(cli: RunCli, home: Path) -> None:
    run(cli, "whoami")
    [pid] = daemon_pids(home)
    stopped = run(cli, "daemon", "stop")["data"]
    assert stopped["stopped"] is True and stopped["pid"] == pid
    assert gone(pid) and daemon_pids(home) == []
    assert not files_for(home).socket.exists()
    assert status(cli)["running"] is False
    assert run(cli, "daemon", "stop")["data"]["stopped"] is False


@pytest.mark.slow
def test_a_daemon_of_another_build_is_replaced(cli: RunCli, home: Path) -> None:
    files = files_for(home)
    files.directory.mkdir(parents=True, mode=0o700)
    old = start(files, "an-older-cli-build")
    assert status(cli)["current"] is False
    run(cli, "whoami")
    assert gone(old.pid)
    [new] = daemon_pids(home)
    assert new != old.pid and status(cli)["pid"] == new
    # A changed service setting is a different environment: replaced too.
    run(cli, "whoami", env={"IMAGE_SKILL_CREATE_WAIT_SECONDS": "90"})
    assert gone(new) and len(daemon_pids(home)) == 1


@pytest.mark.slow
def test_a_command_after_kill_9_starts_a_new_daemon(cli: RunCli, home: Path) -> None:
    run(cli, "whoami")
    [pid] = daemon_pids(home)
    os.kill(pid, signal.SIGKILL)
    assert gone(pid)
    assert files_for(home).socket.exists()  # stale: left behind by the kill
    run(cli, "whoami")
    [new] = daemon_pids(home)
    assert new != pid


@pytest.mark.slow
def test_concurrent_first_commands_start_one_daemon(home: Path) -> None:
    env = {**os.environ, **ON}
    procs = [
        subprocess.Popen(
            [*CLI, "whoami", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        for _ in range(3)
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, out + err
    assert len(daemon_pids(home)) == 1


def test_the_switch_runs_in_process(cli: RunCli, home: Path) -> None:
    run(cli, "whoami", env={"IMAGE_SKILL_EMBEDDED_DAEMON": "0"})
    assert not files_for(home).directory.exists()
    assert daemon_pids(home) == []


@pytest.mark.skipif(os.getuid() != 0, reason="making a file of another user needs root")
def test_a_socket_of_another_user_is_refused(cli: RunCli, home: Path) -> None:
    import socket

    files = files_for(home)
    files.directory.mkdir(parents=True, mode=0o700)
    foreign = socket.socket(socket.AF_UNIX)
    foreign.bind(str(files.socket))
    foreign.listen()
    os.chown(files.socket, 4242, 4242)
    try:
        result = cli("whoami", "--json", env={"IMAGE_SKILL_DEBUG": "1"})
        expect(result, 0)
        assert "not used" in result.stderr and "running in-process" in result.stderr
        assert daemon_pids(home) == []
    finally:
        foreign.close()


@pytest.mark.slow
def test_it_exits_when_idle(cli: RunCli, home: Path) -> None:
    run(cli, "whoami", env={"IMAGE_SKILL_DAEMON_IDLE_SECONDS": "1"})
    [pid] = daemon_pids(home)
    assert gone(pid, 30)
    assert not files_for(home).socket.exists()


STRANGER = """
import http.server, socketserver

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_error(404)
    do_POST = do_GET

class Server(socketserver.UnixStreamServer):
    def get_request(self):
        request, _ = super().get_request()
        return request, ("local", 0)

Server("daemon.sock", Handler).serve_forever()
"""
# A stranger that does not even speak HTTP.
GARBLER = """
import socketserver

class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.recv(65536)
        self.request.sendall(b"garbage\\r\\n\\r\\n")

socketserver.UnixStreamServer("daemon.sock", Handler).serve_forever()
"""


@pytest.mark.slow
@pytest.mark.parametrize("program", [STRANGER, GARBLER], ids=["http", "not-http"])
def test_a_process_that_does_not_know_the_handshake_is_not_killed(
    cli: RunCli, home: Path, program: str
) -> None:
    files = files_for(home)
    files.directory.mkdir(parents=True, mode=0o700)
    stranger = subprocess.Popen([sys.executable, "-c", program], cwd=files.directory)
    try:
        while not files.socket.exists():
            assert stranger.poll() is None
        started = time.monotonic()
        result = cli("whoami", "--json", env={"IMAGE_SKILL_DEBUG": "1"})
        expect(result, 0)  # answered in-process, without waiting for it to stop
        assert "did not exit" in result.stderr and time.monotonic() - started < 8
        for command in (("daemon", "status", "--json"), ("daemon", "stop", "--json")):
            looked = cli(*command)
            assert "PUBLIC_CLI_FAILED" not in looked.stdout, looked.stdout
            assert "Traceback" not in looked.stderr
        assert stranger.poll() is None and daemon_pids(home) == []
    finally:
        stranger.kill()
        stranger.wait()
