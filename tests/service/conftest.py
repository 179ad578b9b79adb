"""Service-level fixtures: the real app in-process through Starlette's TestClient.

``conftest.py`` files outside packages all import as the module ``conftest``, and
pytest swaps ``sys.modules["conftest"]`` to this file while collecting
``tests/service``. The helpers of ``tests/conftest.py`` are re-exported here so
``from conftest import assert_envelope`` works whichever of the two is current.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine

from image_skill.service.app import create_app
from image_skill.service.settings import Settings, to_async_url, to_sync_url


def _root_conftest() -> ModuleType:
    name = "_image_skill_tests_root_conftest"
    if name not in sys.modules:
        path = Path(__file__).resolve().parent.parent / "conftest.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


_root = _root_conftest()
CLI = _root.CLI
PG_URL_ENV = _root.PG_URL_ENV
Server = _root.Server
CliRun = _root.CliRun
RunCli = _root.RunCli
start_server = _root.start_server
stop_server = _root.stop_server
free_port = _root.free_port
assert_envelope = _root.assert_envelope

PEPPER = "service-test-pepper"


def service_settings(database_url: str, home: Path) -> Settings:
    """Server-mode settings on ``database_url`` (no embedded owner, a known pepper)."""
    return Settings(
        database_url=database_url,
        home=home,
        embedded=False,
        environment="test",
        token_pepper=PEPPER,
    )


@pytest.fixture
def api_app(database_url: str, tmp_path: Path) -> FastAPI:
    """A fresh app (not started) on a blank database of each kind."""
    return create_app(service_settings(database_url, tmp_path / "service-home"))


@pytest.fixture
def api(api_app: FastAPI) -> Iterator[TestClient]:
    """A started app (lifespan ran: migrations + engine) and a client for it."""
    with TestClient(api_app) as client:
        yield client


@pytest.fixture
def db(database_url: str) -> Iterator[Engine]:
    """A synchronous engine on the test database, for looking behind the API."""
    engine = create_engine(to_sync_url(to_async_url(database_url)))
    yield engine
    engine.dispose()


Signup = Callable[..., dict[str, Any]]


@pytest.fixture
def signup(api: TestClient) -> Signup:
    """``signup(email, name, **extra)`` -> the success envelope (asserts 200/201)."""

    def run(
        email: str = "human@example.com",
        name: str = "bot",
        *,
        token: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "human_email": email,
            "agent_name": name,
            "runtime": "pytest",
            "return_token": True,
        }
        body.update(extra)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = api.post("/v1/agent-signups", json=body, headers=headers)
        assert response.status_code in (200, 201), response.text
        envelope: dict[str, Any] = response.json()
        assert_envelope(envelope, ok=True)
        return envelope

    return run
