"""Shared fixtures: an isolated home per test, both databases, a real server, the real CLI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CLI = [sys.executable, "-m", "image_skill"]
PG_URL_ENV = "IMAGE_SKILL_TEST_POSTGRES_URL"
_ISOLATED_VARS = (
    "IMAGE_SKILL_TOKEN",
    "IMAGE_SKILL_HOSTED_TOKEN",
    "IMAGE_SKILL_API_BASE_URL",
    "IMAGE_SKILL_DATABASE_URL",
    "IMAGE_SKILL_DEBUG",
)
RATE_LIMIT_RULES = (
    "rate_limit_per_token",
    "rate_limit_per_ip",
    "rate_limit_signup_per_ip",
    "rate_limit_signup_per_email",
    "rate_limit_claim_per_ip",
    "rate_limit_claim_per_email",
)
# Generous rate limits for the whole suite, set at import so module-scoped servers
# and apps get them too: the suite signs up many agents from one address. Tests of
# the limits themselves pass their own (tests/service/test_rate_limits.py).
GENEROUS_RATE_LIMIT = "1000000/minute"
for _rule in RATE_LIMIT_RULES:
    os.environ[f"IMAGE_SKILL_{_rule.upper()}"] = GENEROUS_RATE_LIMIT


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point data and config at a fresh tmp dir; no token or server leaks in."""
    for name in _ISOLATED_VARS:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    monkeypatch.setenv("IMAGE_SKILL_HOME", str(home / "data"))
    monkeypatch.setenv("IMAGE_SKILL_CONFIG_PATH", str(home / "config" / "config.json"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "xdg-config"))
    monkeypatch.setenv("IMAGE_SKILL_TELEMETRY", "off")
    monkeypatch.setenv("IMAGE_SKILL_ENVIRONMENT", "test")
    monkeypatch.delenv("IMAGE_SKILL_RATE_LIMIT_STORAGE", raising=False)
    for rule in RATE_LIMIT_RULES:
        monkeypatch.setenv(f"IMAGE_SKILL_{rule.upper()}", GENEROUS_RATE_LIMIT)
    return home


def _postgres_admin_url() -> str | None:
    url = os.environ.get(PG_URL_ENV)
    if url:
        return url
    if os.environ.get("CI"):
        pytest.fail(f"{PG_URL_ENV} must be set in CI (run scripts/test-postgres)")
    return None


def _create_pg_database(admin_url: str) -> str:
    import psycopg

    name = f"isk_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def drop_pg_database(admin_url: str, database_url: str) -> None:
    """Drop a database made by ``_create_pg_database`` (best effort, even if in use)."""
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    try:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except Exception:  # a leftover test database is harmless
        pass


@contextmanager
def blank_database(kind: str, workdir: Path) -> Iterator[str]:
    """A blank database URL of ``kind`` for module-scoped fixtures; PostgreSQL ones are
    dropped afterwards. Skips without PostgreSQL locally, fails without it in CI."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'test.db'}"
        return
    admin = _postgres_admin_url()
    if admin is None:
        pytest.skip(f"PostgreSQL not configured ({PG_URL_ENV}); CI always runs it")
    try:
        url = _create_pg_database(admin)
    except Exception as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL unreachable: {type(exc).__name__}")
    try:
        yield url
    finally:
        drop_pg_database(admin, url)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A blank database of each kind: SQLite in tmp, a fresh PostgreSQL database."""
    with blank_database(request.param, tmp_path) as url:
        yield url


def free_port() -> int:
    """An unused loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A running ``image-skill serve`` process."""

    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        """Everything the server wrote to stdout/stderr."""
        return self.log_path.read_text(errors="replace")


def start_server(
    database_url: str, workdir: Path, extra_env: dict[str, str] | None = None
) -> Server:
    """Start ``image-skill serve`` on a free loopback port and wait until healthy."""
    import urllib.request

    port = free_port()
    env = dict(os.environ)
    env.update(
        {
            "IMAGE_SKILL_DATABASE_URL": database_url,
            "IMAGE_SKILL_HOME": str(workdir / "server-data"),
            "IMAGE_SKILL_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        }
    )
    env.update(extra_env or {})
    log_path = workdir / f"server-{port}.log"
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        [*CLI, "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "info"],
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(base_url + "/healthz", timeout=1) as response:
                if response.status == 200:
                    return Server(base_url, process, log_path)
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"server did not become healthy:\n{log_path.read_text()}")


def stop_server(server: Server) -> None:
    """Stop a server started by ``start_server``."""
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    """``image-skill serve`` on loopback, once per database kind."""
    running = start_server(database_url, tmp_path)
    yield running
    stop_server(running)


@dataclass
class CliRun:
    """The outcome of one CLI process."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def envelope(self) -> dict[str, Any]:
        """stdout parsed as the one JSON envelope it must be."""
        value = json.loads(self.stdout)
        assert isinstance(value, dict)
        return value

    @property
    def data(self) -> Any:
        """The envelope's data."""
        return self.envelope["data"]

    @property
    def code(self) -> str | None:
        """The envelope's error code."""
        error = self.envelope["error"]
        return None if error is None else str(error["code"])


RunCli = Callable[..., CliRun]


@pytest.fixture
def cli() -> RunCli:
    """Run the real CLI as a subprocess: ``cli("whoami", "--json", stdin=..., env=...)``."""

    def run(
        *args: str, stdin: str | None = None, env: dict[str, str] | None = None, timeout: float = 60
    ) -> CliRun:
        full_env = dict(os.environ)
        full_env.update(env or {})
        completed = subprocess.run(
            [*CLI, *args],
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            env=full_env,
            timeout=timeout,
        )
        return CliRun(completed.returncode, completed.stdout, completed.stderr)

    return run


def assert_envelope(envelope: dict[str, Any], *, ok: bool) -> None:
    """The contract's envelope shape."""
    assert set(envelope) == {"ok", "command", "trace_id", "actor", "data", "warnings", "error"}
    assert envelope["ok"] is ok
    assert envelope["command"].startswith("image-skill")
    assert envelope["trace_id"].startswith("trace_") and len(envelope["trace_id"]) == 22
    assert isinstance(envelope["warnings"], list)
    if ok:
        assert envelope["error"] is None
    else:
        assert envelope["data"] is None
        error = envelope["error"]
        assert {"code", "message", "retryable"} <= set(error)
        assert isinstance(error["retryable"], bool)
