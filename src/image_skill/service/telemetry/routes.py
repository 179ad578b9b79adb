"""``GET /metrics``: Prometheus text exposition of this app's metrics.

No token: the metrics are aggregate counts and latencies with no identities
(route templates, status codes, operations, model ids, error codes). Put the
route behind the network boundary you scrape from if even that is too much.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from image_skill.service.telemetry.metrics import CONTENT_TYPE

router = APIRouter()


@router.get(
    "/metrics",
    name="metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus metrics"}},
)
async def metrics(request: Request) -> Response:
    """Prometheus metrics (requests, jobs, provider latency, credits, uploads)."""
    telemetry = request.app.state.telemetry
    return Response(telemetry.metrics.exposition(), media_type=CONTENT_TYPE)
