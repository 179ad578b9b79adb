"""Service-level fixtures: the real app in-process through Starlette's TestClient.

``conftest.py`` files outside packages all import as the module ``conftest``, and
pytest swaps ``sys.modules["conftest"]`` to this file while collecting
``tests/service``. The helpers of ``tests/conftest.py`` are re-exported here so
``from conftest import assert_envelope`` works whichever of the two is current.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, create_engine

from image_skill.service.app import create_app
from image_skill.service.deps import require_principal
from image_skill.service.settings import Settings, to_async_url, to_sync_url

with warnings.catch_warnings():
    # Starlette nags about httpx vs httpx2 on import; the client works either way.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

try:  # Newer FastAPI keeps included routers lazily; this flattens them.
    from fastapi.routing import iter_route_contexts
except ImportError:  # pragma: no cover - older FastAPI lists plain routes in app.routes
    iter_route_contexts = None


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
_create_pg_database = _root._create_pg_database
_postgres_admin_url = _root._postgres_admin_url
drop_pg_database = _root.drop_pg_database
blank_database = _root.blank_database

PEPPER = "service-test-pepper"
_PARAM = re.compile(r"\{[^}]+\}")


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


# --- the app's route table ---------------------------------------------------------------


@dataclass(frozen=True)
class RouteInfo:
    """What the sweeps need to know about one route."""

    path: str
    methods: frozenset[str]
    name: str
    requires_auth: bool
    body_model: Any

    @property
    def concrete_path(self) -> str:
        """The path with every parameter filled by an id that does not exist."""
        return _PARAM.sub("nonexistent", self.path)

    def matches(self, concrete_path: str) -> bool:
        """True if this route's template matches ``concrete_path``."""
        pattern = "[^/]+".join(re.escape(part) for part in _PARAM.split(self.path))
        return re.fullmatch(pattern, concrete_path) is not None

    def __str__(self) -> str:
        return f"{'|'.join(sorted(self.methods))} {self.path}"


def _needs_principal(dependant: Any) -> bool:
    if dependant is None:
        return False
    if getattr(dependant, "call", None) is require_principal:
        return True
    return any(_needs_principal(sub) for sub in getattr(dependant, "dependencies", ()))


def _flat_routes(app: FastAPI) -> list[Any]:
    if iter_route_contexts is None:
        return list(app.routes)
    return list(iter_route_contexts(app.routes))


def route_table(app: FastAPI) -> list[RouteInfo]:
    """Every HTTP route of ``app`` (API routes and the docs/OpenAPI routes)."""
    table = []
    for route in _flat_routes(app):
        methods = getattr(route, "methods", None)
        path = getattr(route, "path", None)
        if not methods or not path:
            continue  # mounts and websockets have no method table
        body_field = getattr(route, "body_field", None)
        table.append(
            RouteInfo(
                path=path,
                methods=frozenset(methods),
                name=str(getattr(route, "name", "")),
                requires_auth=_needs_principal(getattr(route, "dependant", None)),
                body_model=None if body_field is None else body_field.field_info.annotation,
            )
        )
    return table


def collection_routes() -> list[RouteInfo]:
    """The route table of a default app, for parametrizing at collection time.

    Building the app touches no database; only its routes are read.
    """
    settings = Settings(
        database_url="sqlite:///unused.db",
        home=Path("/nonexistent/image-skill-collection"),
        environment="test",
        embedded=False,
    )
    return route_table(create_app(settings))
