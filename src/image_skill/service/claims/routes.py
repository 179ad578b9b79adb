"""HTTP routes for agents: ask to be claimed and follow the claim.

Asking is rate limited per IP and per sponsor email before anything is
written; the claim itself is opened and mailed by ``claims.service``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from image_skill.contract.ids import utc_now
from image_skill.service.abuse.limiter import client_ip, enforce
from image_skill.service.claims import repository
from image_skill.service.claims.schemas import ClaimList, ClaimRequested, ClaimShown
from image_skill.service.claims.service import (
    agent_claim,
    claim_sponsor_email,
    claim_view,
    send_claim,
)
from image_skill.service.deps import AppSettings, CurrentPrincipal, Session
from image_skill.service.envelopes import answers
from image_skill.service.guarded_route import GuardedRoute
from image_skill.service.id_params import ClaimId
from image_skill.service.mail import MailBackend, backend_for
from image_skill.service.openapi_errors import error_responses
from image_skill.service.responses import envelope_response

router = APIRouter(route_class=GuardedRoute, responses=error_responses(401, 403, 404, 409))

_LIST_LIMIT = 20


def mail_backend(request: Request) -> MailBackend:
    """The app's mail backend, made on first use."""
    backend: MailBackend | None = getattr(request.app.state, "mail_backend", None)
    if backend is None:
        backend = backend_for(request.app.state.settings)
        request.app.state.mail_backend = backend
    return backend


@router.post("/v1/claims", name="image-skill claim request", **answers(ClaimRequested, status=201))
async def request_claim(
    request: Request,
    principal: CurrentPrincipal,
    settings: AppSettings,
) -> JSONResponse:
    """Email the agent's sponsor a one-time link to claim it; answers the claim (never the link).

    The request needs no body (``{}`` is fine): the claim goes to the sponsor email the
    agent signed up with, never to an address given here.
    """
    engine = request.app.state.engine
    sponsor_email = await claim_sponsor_email(engine, principal)
    await enforce(request, "rate_limit_claim_per_ip", client_ip(request))
    await enforce(request, "rate_limit_claim_per_email", sponsor_email)
    claim = await send_claim(engine, settings, principal, mail_backend(request))
    data = {
        "claim": claim_view(claim, utc_now()),
        "next": [
            "Ask your human to open the link emailed to them and press Confirm.",
            f"image-skill claim status {claim.id} --json",
        ],
    }
    return envelope_response(request, data, status_code=201)


@router.get("/v1/claims", name="image-skill claim status", **answers(ClaimList))
async def list_claims(
    request: Request, principal: CurrentPrincipal, session: Session
) -> JSONResponse:
    """The caller's claims, newest first."""
    claims = await repository.newest_for_agent(session, principal.actor_id, _LIST_LIMIT)
    now = utc_now()
    return envelope_response(request, {"claims": [claim_view(claim, now) for claim in claims]})


@router.get("/v1/claims/{claim_id}", name="image-skill claim status", **answers(ClaimShown))
async def show_claim(
    claim_id: ClaimId, request: Request, principal: CurrentPrincipal, session: Session
) -> JSONResponse:
    """One of the caller's claims and its state."""
    claim = await agent_claim(session, principal, claim_id)
    return envelope_response(request, {"claim": claim_view(claim, utc_now())})
