"""``/v1/webhooks``: the organization's default URL, its signing secret and the delivery log."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from image_skill.service.deps import CurrentPrincipal, Session
from image_skill.service.envelopes import answers
from image_skill.service.guarded_route import GuardedRoute
from image_skill.service.id_params import OptionalIdQuery, PageLimit
from image_skill.service.openapi_errors import error_responses
from image_skill.service.responses import envelope_response
from image_skill.service.runtime import Runtime
from image_skill.service.webhooks import service
from image_skill.service.webhooks.schemas import (
    DeliveryPage,
    WebhooksChanged,
    WebhookSettingsRequest,
    WebhooksShown,
)

router = APIRouter(route_class=GuardedRoute, responses=error_responses(401, 403, 409))

_SECRET_WARNING = (
    "The signing secret is shown only now: store it where your webhook receiver can read it."
)


@router.get("/v1/webhooks", name="image-skill webhooks show", **answers(WebhooksShown))
async def show_webhooks(
    request: Request, principal: CurrentPrincipal, session: Session
) -> JSONResponse:
    """The organization's default webhook URL and whether it has a signing secret."""
    return envelope_response(request, {"webhooks": await service.settings_view(session, principal)})


@router.put("/v1/webhooks", name="image-skill webhooks set-default", **answers(WebhooksChanged))
async def set_webhooks(
    body: WebhookSettingsRequest, request: Request, principal: CurrentPrincipal
) -> JSONResponse:
    """Set the default URL (``null`` clears it); the first one also makes the signing secret."""
    runtime: Runtime = request.app.state.runtime
    view, secret = await service.set_default_url(runtime, principal, body.default_url)
    data = {"webhooks": view, "signing_secret": secret}
    return envelope_response(request, data, warnings=[_SECRET_WARNING] if secret else [])


@router.post(
    "/v1/webhooks/secret",
    name="image-skill webhooks rotate-secret",
    **answers(WebhooksChanged, status=201),
)
async def rotate_secret(request: Request, principal: CurrentPrincipal) -> JSONResponse:
    """Make a new signing secret (the old one stops signing at once), shown this once."""
    runtime: Runtime = request.app.state.runtime
    issued = await service.rotate_secret(runtime, principal)
    data = {"webhooks": issued.settings_view, "signing_secret": issued.secret}
    return envelope_response(request, data, status_code=201, warnings=[_SECRET_WARNING])


@router.get(
    "/v1/webhooks/deliveries", name="image-skill webhooks deliveries", **answers(DeliveryPage)
)
async def list_deliveries(
    request: Request,
    principal: CurrentPrincipal,
    session: Session,
    limit: PageLimit = 20,
    cursor: OptionalIdQuery = None,
) -> JSONResponse:
    """The organization's webhook deliveries, newest first; pass ``next_cursor`` for more."""
    page = await service.deliveries(session, principal, limit=limit, cursor=cursor)
    return envelope_response(request, page)
