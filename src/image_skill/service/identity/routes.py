"""HTTP routes for signup and whoami."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from image_skill.contract.errors import ImageSkillError
from image_skill.service.abuse.limiter import client_ip, enforce
from image_skill.service.claims.service import whoami_claim
from image_skill.service.deps import (
    AppSettings,
    CurrentPrincipal,
    MediaUrls,
    Session,
    bearer_token,
)
from image_skill.service.envelopes import answers
from image_skill.service.guarded_route import GuardedRoute
from image_skill.service.identity import repository
from image_skill.service.identity.principal import Principal
from image_skill.service.identity.schemas import (
    SignupData,
    SignupRequest,
    WhoamiData,
    actor_view,
    grants_view,
    mask_email,
    organization_view,
    token_view,
)
from image_skill.service.identity.service import (
    FreePreviewPolicy,
    authenticate,
    normalize_email,
    signup_agent,
)
from image_skill.service.openapi_errors import error_responses
from image_skill.service.quota.service import daily_job_cap
from image_skill.service.responses import envelope_response
from image_skill.service.storage_info import storage_view

router = APIRouter(route_class=GuardedRoute, responses=error_responses(401, 403))


@router.post(
    "/v1/agent-signups",
    name="image-skill signup",
    **answers(SignupData, status=201, others={200: SignupData}),
)
async def signup(
    body: SignupRequest,
    request: Request,
    session: Session,
    settings: AppSettings,
    urls: MediaUrls,
) -> JSONResponse:
    """Create a new restricted agent in an organization of its own and return its token once.

    With the agent's current token and the same agent name, rotate that token instead.
    """
    email = normalize_email(body.human_email)
    await enforce(request, "rate_limit_signup_per_ip", client_ip(request))
    await enforce(request, "rate_limit_signup_per_email", email)
    presented = await _presented_principal(request, session, settings.token_pepper)
    result = await signup_agent(
        session,
        human_email=email,
        agent_name=body.agent_name,
        runtime=body.runtime,
        free_preview=FreePreviewPolicy(
            credits=settings.free_preview_credits,
            daily_ceiling=settings.free_preview_daily_ceiling,
        ),
        presented=presented,
        pepper=settings.token_pepper,
    )
    principal = Principal(
        actor_id=result.agent.id,
        actor_type=result.agent.actor_type,
        organization_id=result.agent.organization_id,
        claim_state=result.agent.claim_state,
        token_class=result.token_row.token_class,
        token_id=result.token_row.id,
    )
    data = {
        "token": result.token if body.return_token else None,
        "token_returned": body.return_token,
        "token_info": token_view(result.token_row, principal),
        "rotated": result.rotated,
        "actor": principal.envelope_actor(),
        "agent": actor_view(result.agent),
        "organization": organization_view(result.organization),
        # The sponsor the agent may ask to be claimed by; nobody is verified by signup.
        "human": {
            "human_id": result.agent.sponsor_id,
            "email": mask_email(result.agent.sponsor_email),
            "verified": result.agent.claim_state == "claimed",
        },
        "claim_state": result.agent.claim_state,
        "grants": grants_view(principal),
        "storage": storage_view(settings, urls),
        "quota": {
            "free_preview_credits_granted": result.free_preview_credits,
            "daily_job_cap": daily_job_cap(settings, principal),
        },
        "next": [
            "image-skill whoami --json",
            "image-skill usage quota --json",
            "image-skill models list --json",
            "image-skill claim request --json",
        ],
    }
    return envelope_response(
        request,
        data,
        status_code=200 if result.rotated else 201,
        warnings=result.warnings(token_returned=body.return_token),
        actor=principal.envelope_actor(),
    )


async def _presented_principal(request: Request, session: Session, pepper: str) -> Principal | None:
    """The token sent with a signup, if it is valid (a stale one is simply ignored)."""
    try:
        raw = bearer_token(request)
        return None if raw is None else await authenticate(session, raw, pepper=pepper)
    except ImageSkillError:
        return None


@router.get("/v1/whoami", name="image-skill whoami", **answers(WhoamiData))
async def whoami(request: Request, principal: CurrentPrincipal, session: Session) -> JSONResponse:
    """The caller's actor, organization, claim state, token class and grants."""
    token = await repository.live_token(session, principal.token_id) if principal.token_id else None
    org = await repository.organization(session, principal.organization_id)
    data = {
        "actor": principal.envelope_actor(),
        "organization": organization_view(org),
        "claim_state": principal.claim_state,
        "token_class": principal.token_class,
        "token": token_view(token, principal),
        "grants": grants_view(principal),
        "local_owner": principal.is_local_owner,
        "claim": await whoami_claim(session, principal),
    }
    return envelope_response(request, data)
