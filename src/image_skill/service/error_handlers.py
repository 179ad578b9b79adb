"""One place that turns every failure into the envelope.

Covers our own errors, request validation, unknown routes, wrong methods and
anything unexpected (logged with the trace id, never shown to the caller).
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from image_skill.contract.errors import ErrorCode, ImageSkillError, not_found, retry_later
from image_skill.service.redacted_traceback import redacted_traceback
from image_skill.service.responses import error_response, trace_id_of

log = logging.getLogger("image_skill.service")


def _field_path(location: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(part) for part in location if part not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _validation_error(exc: RequestValidationError) -> ImageSkillError:
    problems = []
    fields = []
    for item in exc.errors()[:5]:
        if item.get("type") == "json_invalid":
            # The location is ("body", <character offset>): not a field name.
            fields.append("body")
            problems.append("body: not valid JSON")
            continue
        field = _field_path(item.get("loc", ()))
        fields.append(field)
        # pydantic messages describe the rule, never the submitted value.
        problems.append(f"{field}: {item.get('msg', 'invalid')}")
    message = "Invalid request: " + "; ".join(problems) if problems else "Invalid request body."
    return ImageSkillError(
        ErrorCode.INVALID_ARGUMENTS, message, details={"field": fields[0] if fields else None}
    )


def _route_of(request: Request) -> str:
    """The route template, never the raw path (media paths carry capability ids)."""
    route = request.scope.get("route")
    return str(getattr(route, "path", "unmatched"))


def install_error_handlers(app: FastAPI) -> None:
    """Register the envelope-producing handlers on ``app``."""

    @app.exception_handler(ImageSkillError)
    async def _domain(request: Request, exc: ImageSkillError) -> JSONResponse:
        return error_response(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(request, _validation_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            error = not_found("No such route. See /openapi.json for the API.")
        elif exc.status_code == 405:
            error = ImageSkillError(
                ErrorCode.METHOD_NOT_ALLOWED,
                f"Method {request.method} is not allowed on this route.",
            )
            allowed = _allowed_methods(request)
            if allowed:  # Starlette names only the first route's methods for a shared path
                return error_response(request, error, extra_headers={"Allow": allowed})
        elif exc.status_code < 500:
            error = ImageSkillError(
                ErrorCode.INVALID_ARGUMENTS, "The request could not be processed."
            )
        else:
            error = ImageSkillError(
                ErrorCode.INTERNAL_ERROR, "The service failed to process the request."
            )
        return error_response(request, error, extra_headers=exc.headers)

    @app.exception_handler(OperationalError)
    @app.exception_handler(PoolTimeout)
    async def _database_busy(request: Request, exc: Exception) -> JSONResponse:
        log.warning(
            "database unavailable on %s %s (trace %s): %s",
            request.method,
            _route_of(request),
            trace_id_of(request),
            type(exc).__name__,
        )
        error = retry_later(
            ErrorCode.SERVICE_UNAVAILABLE,
            "The service's database is busy or unreachable; retry shortly.",
            seconds=2,
        )
        return error_response(request, error)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        trace_id = trace_id_of(request)
        # The trace id goes into the message itself: log formatters drop ``extra``.
        log.error(
            "unhandled error on %s %s (%s)\n%s",
            request.method,
            _route_of(request),
            trace_id,
            redacted_traceback(exc),
            extra={"trace_id": trace_id, "route": _route_of(request)},
        )
        error = ImageSkillError(
            ErrorCode.INTERNAL_ERROR,
            f"The service hit an unexpected error; it was logged under {trace_id}.",
            recovery={"suggested_command": "image-skill doctor --json"},
        )
        return error_response(request, error)


@lru_cache(maxsize=256)
def _path_pattern(template: str) -> re.Pattern[str]:
    return compile_path(template)[0]


def _allowed_methods(request: Request) -> str | None:
    """Every method of every route whose template matches the request's path (RFC 9110 Allow)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # pragma: no cover - older FastAPI: Starlette's header stands
        return None
    path = request.scope.get("path", "")
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        template = getattr(route, "path", None)
        if route.methods and template and _path_pattern(template).match(path):
            methods |= set(route.methods)
    return ", ".join(sorted(methods)) or None
