"""``GET /healthz``: is the service up and can it reach its database."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from image_skill import __version__
from image_skill.contract.envelope import API_VERSION
from image_skill.contract.errors import ErrorCode, ImageSkillError
from image_skill.contract.ids import iso, utc_now
from image_skill.service.deps import AppSettings
from image_skill.service.envelopes import answers
from image_skill.service.guarded_route import GuardedRoute
from image_skill.service.health.schemas import HealthData
from image_skill.service.openapi_errors import error_responses
from image_skill.service.responses import envelope_response

router = APIRouter(route_class=GuardedRoute, responses=error_responses())


@router.get("/healthz", name="image-skill doctor", **answers(HealthData))
async def healthz(request: Request, settings: AppSettings) -> JSONResponse:
    """Service status, API version and database reachability.

    The database is checked on the health engine's reserved connection, so a
    burst of traffic holding the main pool does not make the probe wait.
    """
    try:
        async with request.app.state.health_engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as exc:
        raise ImageSkillError(
            ErrorCode.SERVICE_UNAVAILABLE, "The service cannot reach its database.", retryable=True
        ) from exc
    data = {
        "status": "ok",
        "api_version": API_VERSION,
        "service": "image-skill",
        "version": __version__,
        "mode": "embedded" if settings.embedded else "server",
        "telemetry": settings.telemetry,
        "database": "ok",
        "time": iso(utc_now()),
    }
    return envelope_response(request, data)
