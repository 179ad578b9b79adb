"""The app's route table, for the sweeps that hit every route."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from image_skill.server import create_server_app
from image_skill.service.deps import require_principal
from image_skill.service.settings import Settings

try:  # Newer FastAPI keeps included routers lazily; this flattens them.
    from fastapi.routing import iter_route_contexts
except ImportError:  # pragma: no cover - older FastAPI lists plain routes in app.routes
    iter_route_contexts = None

_PARAM = re.compile(r"\{[^}]+\}")


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


def flat_routes(app: FastAPI) -> list[Any]:
    """Every route of ``app``, included routers flattened."""
    if iter_route_contexts is None:
        return list(app.routes)
    return list(iter_route_contexts(app.routes))


def route_table(app: FastAPI) -> list[RouteInfo]:
    """Every HTTP route of ``app`` (API routes and the docs/OpenAPI routes)."""
    table = []
    for route in flat_routes(app):
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
    return route_table(create_server_app(settings))
