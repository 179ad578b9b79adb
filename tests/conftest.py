"""Shared fixtures: an isolated home per test, both databases, a real server, the real CLI."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine

from image_skill.service.settings import to_async_url, to_sync_url
from tests.support.cli import RunCli, run_cli
from tests.support.databases import blank_database
from tests.support.seaweed import Seaweed, start_seaweed, stop_seaweed
from tests.support.servers import Server, start_server, stop_server

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
    # Embedded commands run in-process: a home per test would otherwise leave a daemon
    # per test running until its idle timeout (tests/e2e/test_embedded_daemon.py
    # switches it on and kills what it started).
    monkeypatch.setenv("IMAGE_SKILL_EMBEDDED_DAEMON", "0")
    monkeypatch.setenv("IMAGE_SKILL_ENVIRONMENT", "test")
    monkeypatch.delenv("IMAGE_SKILL_RATE_LIMIT_STORAGE", raising=False)
    for rule in RATE_LIMIT_RULES:
        monkeypatch.setenv(f"IMAGE_SKILL_{rule.upper()}", GENEROUS_RATE_LIMIT)
    return home


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A blank database of each kind: SQLite in tmp, a fresh PostgreSQL database."""
    with blank_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def db(database_url: str) -> Iterator[Engine]:
    """A synchronous engine on the test database, for looking behind the API."""
    engine = create_engine(to_sync_url(to_async_url(database_url)))
    yield engine
    engine.dispose()


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    """``image-skill serve`` on loopback, once per database kind."""
    running = start_server(database_url, tmp_path)
    yield running
    stop_server(running)


@pytest.fixture
def cli() -> RunCli:
    """Run the real CLI as a subprocess: ``cli("whoami", "--json", stdin=..., env=...)``."""
    return run_cli


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seaweed]:
    """A real S3 server (SeaweedFS) on loopback for the session; each test makes its bucket."""
    running = start_seaweed(tmp_path_factory.mktemp("seaweed"))
    yield running
    stop_seaweed(running)
