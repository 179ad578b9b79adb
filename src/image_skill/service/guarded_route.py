"""The route class of every API router: bodies and path parameters are checked first.

FastAPI parses a JSON body with ``Request.json()`` before it resolves the
route's dependencies. ``GuardedRequest`` overrides that one method to parse
through ``json_guard`` (depth, NUL, lone surrogates, number ranges), so the
body is parsed once and checked once, and a refusal is ``INVALID_ARGUMENTS``
naming the field instead of a 500 somewhere downstream. This is FastAPI's
documented custom ``Request``/``APIRoute`` pattern; every router passes
``route_class=GuardedRoute`` (a test walks the app to make sure). Path
parameters get the checks of ``input_guard`` here, where routing has named them.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from image_skill.contract.errors import ImageSkillError
from image_skill.service.input_guard import path_param_problem
from image_skill.service.json_guard import parse_json_body

# Used when an app carries no settings (never in the service itself).
_DEFAULT_MAX_DEPTH = 32


class _BodyRefused(HTTPException):
    """Carries a refusal through FastAPI's body parsing, which re-raises HTTP exceptions
    as they are but turns any other exception into a generic 400."""

    def __init__(self, error: ImageSkillError) -> None:
        super().__init__(status_code=error.http_status, detail=error.message)
        self.error = error


class GuardedRequest(Request):
    """A request whose ``json()`` refuses bodies that could not be handled safely."""

    async def json(self) -> Any:
        """The parsed body (once), or a refusal naming the offending field."""
        if not hasattr(self, "_json"):
            try:
                self._json = parse_json_body(await self.body(), max_depth=_max_depth(self))
            except ImageSkillError as exc:
                raise _BodyRefused(exc) from None
        return self._json


class GuardedRoute(APIRoute):
    """An ``APIRoute`` whose handler sees a ``GuardedRequest``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The default handler, given a ``GuardedRequest`` and unwrapping its refusals."""
        handler = super().get_route_handler()

        async def guarded_handler(request: Request) -> Response:
            refusal = path_param_problem(request.scope)
            if refusal is not None:
                raise refusal
            try:
                return await handler(GuardedRequest(request.scope, request.receive))
            except _BodyRefused as exc:
                raise exc.error from None

        return guarded_handler


def _max_depth(request: Request) -> int:
    settings = getattr(request.app.state, "settings", None)
    return int(getattr(settings, "max_json_depth", _DEFAULT_MAX_DEPTH))
