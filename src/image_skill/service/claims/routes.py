"""HTTP routes for agents: ask to be claimed and follow the claim.

The claim row is committed before the email is sent, so a link in a message
always names a stored claim; a failed send is a retryable error and the agent
simply asks again (which supersedes the unsent link).
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from image_skill.contract.errors import ErrorCode, ImageSkillError
from image_skill.contract.ids import utc_now
from image_skill.service.abuse.limiter import client_ip, enforce
from image_skill.service.claims import links, repository
from image_skill.service.claims.message import claim_message
from image_skill.service.claims.service import agent_claim, claim_view, claimable_agent, open_claim
from image_skill.service.db.engine import session_scope
from image_skill.service.deps import AppSettings, CurrentPrincipal, Session
from image_skill.service.guarded_route import GuardedRoute
from image_skill.service.id_params import ClaimId
from image_skill.service.mail import MailBackend, MailDeliveryFailed, backend_for
from image_skill.service.openapi_errors import error_responses
from image_skill.service.responses import envelope_response

log = logging.getLogger("image_skill.service")
router = APIRouter(route_class=GuardedRoute, responses=error_responses(401, 403, 404, 409))

_LIST_LIMIT = 20
_RETRY_AFTER_SECONDS = 30


def mail_backend(request: Request) -> MailBackend:
    """The app's mail backend, made on first use."""
    backend: MailBackend | None = getattr(request.app.state, "mail_backend", None)
    if backend is None:
        backend = backend_for(request.app.state.settings)
        request.app.state.mail_backend = backend
    return backend


@router.post("/v1/claims", name="image-skill claim request", status_code=201)
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
    async with session_scope(engine, write=False) as session:
        agent = await claimable_agent(session, principal)
    assert agent.sponsor_email is not None
    await enforce(request, "rate_limit_claim_per_ip", client_ip(request))
    await enforce(request, "rate_limit_claim_per_email", agent.sponsor_email)
    async with session_scope(engine, write=True) as session:
        claim, agent, token = await open_claim(
            session,
            principal,
            pepper=settings.token_pepper,
            ttl_seconds=settings.claim_link_ttl_seconds,
        )
    message = claim_message(claim, agent, links.link_url(settings, token))
    backend = mail_backend(request)
    try:
        await backend.send(message)
    except MailDeliveryFailed as exc:
        cause = type(exc.__cause__).__name__ if exc.__cause__ else "none"
        log.warning("claim mail not sent: backend=%s cause=%s", backend.name, cause)
        raise ImageSkillError(
            ErrorCode.SERVICE_UNAVAILABLE,
            "The claim email could not be sent right now; request the claim again shortly.",
            recovery={
                "suggested_command": "image-skill claim request --json",
                "retry_after_seconds": _RETRY_AFTER_SECONDS,
            },
        ) from None
    data = {
        "claim": claim_view(claim, utc_now()),
        "next": [
            "Ask your human to open the link emailed to them and press Confirm.",
            f"image-skill claim status {claim.id} --json",
        ],
    }
    return envelope_response(request, data, status_code=201)


@router.get("/v1/claims", name="image-skill claim status")
async def list_claims(
    request: Request, principal: CurrentPrincipal, session: Session
) -> JSONResponse:
    """The caller's claims, newest first."""
    claims = await repository.newest_for_agent(session, principal.actor_id, _LIST_LIMIT)
    now = utc_now()
    return envelope_response(request, {"claims": [claim_view(claim, now) for claim in claims]})


@router.get("/v1/claims/{claim_id}", name="image-skill claim status")
async def show_claim(
    claim_id: ClaimId, request: Request, principal: CurrentPrincipal, session: Session
) -> JSONResponse:
    """One of the caller's claims and its state."""
    claim = await agent_claim(session, principal, claim_id)
    return envelope_response(request, {"claim": claim_view(claim, utc_now())})
