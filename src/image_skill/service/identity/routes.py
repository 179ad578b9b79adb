"""HTTP routes for signup and whoami."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from image_skill.contract.errors import ImageSkillError
from image_skill.service.deps import AppSettings, CurrentPrincipal, Session, bearer_token
from image_skill.service.identity import repository
from image_skill.service.identity.principal import Principal
from image_skill.service.identity.schemas import SignupRequest
from image_skill.service.identity.service import authenticate, signup_agent
from image_skill.service.identity.views import (
    actor_view,
    grants_view,
    mask_email,
    organization_view,
    token_view,
)
from image_skill.service.quota.service import daily_job_cap
from image_skill.service.responses import envelope_response
from image_skill.service.storage_info import storage_view

router = APIRouter()


@router.post("/v1/agent-signups", name="image-skill signup")
async def signup(
    body: SignupRequest, request: Request, session: Session, settings: AppSettings
) -> JSONResponse:
    """Create a restricted agent (or rotate its token) and return the token once."""
    presented = await _presented_principal(request, session, settings.token_pepper)
    result = await signup_agent(
        session,
        human_email=body.human_email,
        agent_name=body.agent_name,
        runtime=body.runtime,
        free_preview_credits=settings.free_preview_credits,
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
        "human": {"human_id": result.human.id, "email": mask_email(result.human.email)},
        "claim_state": result.agent.claim_state,
        "grants": grants_view(principal),
        "storage": storage_view(settings),
        "quota": {
            "free_preview_credits_granted": result.free_preview_credits,
            "daily_job_cap": daily_job_cap(settings, principal),
        },
        "next": [
            "image-skill whoami --json",
            "image-skill usage quota --json",
            "image-skill models list --json",
        ],
    }
    warnings = []
    if result.rotated:
        warnings.append("Earlier tokens of this agent were revoked; use the new one.")
    if not body.return_token:
        warnings.append("The token was not returned; sign up again to rotate and receive one.")
    return envelope_response(
        request,
        data,
        status_code=200 if result.rotated else 201,
        warnings=warnings,
        actor=principal.envelope_actor(),
    )


async def _presented_principal(request: Request, session: Session, pepper: str) -> Principal | None:
    """The token sent with a signup, if it is valid (a stale one is simply ignored)."""
    try:
        raw = bearer_token(request)
        return None if raw is None else await authenticate(session, raw, pepper=pepper)
    except ImageSkillError:
        return None


@router.get("/v1/whoami", name="image-skill whoami")
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
    }
    return envelope_response(request, data)
