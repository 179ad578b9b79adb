"""``GET /metrics``: Prometheus text exposition of this app's metrics.

The metrics are aggregate counts and latencies with no identities (route
templates, status codes, operations, model ids, error codes). Still, a public
deployment should not show them to everyone: with ``IMAGE_SKILL_METRICS_TOKEN``
set, a scrape must send ``Authorization: Bearer <that token>``, compared in
constant time. Without it the route is open (one machine, or a scrape from
behind the network boundary).
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import Response

from image_skill.contract.errors import ErrorCode, ImageSkillError
from image_skill.service.guarded_route import GuardedRoute
from image_skill.service.openapi_errors import error_responses
from image_skill.service.settings import Settings
from image_skill.service.telemetry.metrics import CONTENT_TYPE

router = APIRouter(route_class=GuardedRoute, responses=error_responses(401))


@router.get(
    "/metrics",
    name="metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {}}, "description": "Prometheus metrics"},
        401: {
            "description": "IMAGE_SKILL_METRICS_TOKEN is set and the bearer token is missing "
            "or wrong (AUTH_REQUIRED / AUTH_INVALID envelope)"
        },
    },
)
async def metrics(request: Request) -> Response:
    """Prometheus metrics (requests, jobs, provider latency, credits, uploads)."""
    settings: Settings = request.app.state.settings
    if settings.metrics_token:
        check_metrics_token(settings.metrics_token, request.headers.get("authorization"))
    telemetry = request.app.state.telemetry
    return Response(telemetry.metrics.exposition(), media_type=CONTENT_TYPE)


def check_metrics_token(expected: str, authorization: str | None) -> None:
    """Raise AUTH_REQUIRED / AUTH_INVALID unless ``authorization`` is ``Bearer <expected>``."""
    if authorization is None or not authorization.strip():
        raise ImageSkillError(
            ErrorCode.AUTH_REQUIRED,
            "Scraping /metrics needs 'Authorization: Bearer <metrics token>'.",
        )
    scheme, _, value = authorization.strip().partition(" ")
    sent = value.strip().encode("utf-8", "surrogateescape")
    if scheme.lower() != "bearer" or not hmac.compare_digest(sent, expected.encode("utf-8")):
        raise ImageSkillError(ErrorCode.AUTH_INVALID, "The metrics token is not valid.")
