"""Every dependency of every route runs on the event loop.

FastAPI runs a plain ``def`` dependency on a worker thread: a thread round trip
per dependency per request (a create paid four). A dependency that does no
blocking work is ``async def``; one that must block says so by its name here.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from image_skill.service.app import create_app
from image_skill.service.settings import Settings


def _api_routes(routes: Sequence[BaseRoute]) -> Iterator[APIRoute]:
    """The app's API routes, through included routers (kept lazily by FastAPI)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _api_routes(included.routes)


def _dependencies(dependant: Dependant) -> Iterator[Dependant]:
    for dependency in dependant.dependencies:
        yield dependency
        yield from _dependencies(dependency)


@pytest.mark.parametrize("embedded", [False, True])
def test_no_route_has_a_dependency_that_runs_on_a_thread(tmp_path: Path, embedded: bool) -> None:
    app = create_app(Settings(home=tmp_path, embedded=embedded))
    routes = list(_api_routes(app.routes))
    assert len(routes) > 30  # the walk reached the routers' routes
    on_threads = {
        f"{route.path}: {dependency.call.__module__}.{dependency.call.__qualname__}"
        for route in routes
        for dependency in _dependencies(route.dependant)
        if dependency.call is not None
        and not inspect.iscoroutinefunction(dependency.call)
        and not inspect.isasyncgenfunction(dependency.call)
    }
    assert on_threads == set()
