"""Request bodies and public shapes of identity objects (never the raw token, never a hash).

The ``*View`` functions build the answers; the models below describe them for OpenAPI.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from image_skill.contract.ids import iso
from image_skill.service.claims.schemas import WhoamiClaim
from image_skill.service.db.models import Actor, ApiToken, Organization
from image_skill.service.envelopes import EnvelopeActor
from image_skill.service.identity.grants import grants_for
from image_skill.service.identity.principal import Principal


class SignupRequest(BaseModel):
    """``POST /v1/agent-signups``."""

    model_config = ConfigDict(extra="ignore")

    human_email: str = Field(min_length=3, max_length=254)
    agent_name: str = Field(min_length=1, max_length=100)
    runtime: str | None = Field(default=None, max_length=100)
    return_token: bool = True


def mask_email(email: str | None) -> str | None:
    """``h***@example.com``: enough to recognise, not enough to harvest."""
    if not email or "@" not in email:
        return None
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def actor_view(actor: Actor) -> dict[str, Any]:
    """Public fields of an actor."""
    return {
        "actor_type": actor.actor_type,
        "actor_id": actor.id,
        "organization_id": actor.organization_id,
        "claim_state": actor.claim_state,
        "name": actor.name,
        "runtime": actor.runtime,
        "created_at": iso(actor.created_at),
    }


def organization_view(org: Organization | None) -> dict[str, Any] | None:
    """Public fields of an organization."""
    if org is None:
        return None
    return {"organization_id": org.id, "name": org.name, "created_at": iso(org.created_at)}


def token_view(token: ApiToken | None, principal: Principal) -> dict[str, Any]:
    """Token metadata: its class and a display prefix, never the secret."""
    if token is None:
        return {"token_class": principal.token_class, "display_prefix": None, "created_at": None}
    return {
        "token_id": token.id,
        "token_class": token.token_class,
        "display_prefix": token.display_prefix,
        "created_at": iso(token.created_at),
    }


def grants_view(principal: Principal) -> list[str]:
    """The grant names of a principal."""
    return grants_for(principal.claim_state, is_local_owner=principal.is_local_owner)


class ActorView(BaseModel):
    """Public fields of an actor."""

    actor_type: str
    actor_id: str
    organization_id: str
    claim_state: str
    name: str
    runtime: str | None
    created_at: str


class OrganizationView(BaseModel):
    """Public fields of an organization."""

    organization_id: str
    name: str
    created_at: str


class TokenInfo(BaseModel):
    """Token metadata (``token_id`` absent when the token row is not at hand)."""

    token_id: str | None = None
    token_class: str
    display_prefix: str | None
    created_at: str | None


class SponsorView(BaseModel):
    """The human an agent may ask to be claimed by (email masked)."""

    human_id: str | None
    email: str | None
    verified: bool


class StorageView(BaseModel):
    """Where assets are kept, without paths, buckets or keys."""

    artifact_storage: str
    backend: str
    owned_asset_urls: bool
    url_scheme: str = Field(
        examples=["https"], description="Scheme of this service's asset URLs: file, http or https."
    )


class SignupQuota(BaseModel):
    """The free preview granted at signup and the daily job cap."""

    free_preview_credits_granted: int
    daily_job_cap: int | None


class SignupData(BaseModel):
    """``POST /v1/agent-signups``: the token (once, when asked for) and the new agent."""

    token: str | None = Field(description="Shown once; null unless return_token.")
    token_returned: bool
    token_info: TokenInfo
    rotated: bool
    actor: EnvelopeActor
    agent: ActorView
    organization: OrganizationView | None
    human: SponsorView
    claim_state: str
    grants: list[str]
    storage: StorageView
    quota: SignupQuota
    next: list[str]


class WhoamiData(BaseModel):
    """``GET /v1/whoami``: actor, organization, claim state, token class and grants."""

    actor: EnvelopeActor
    organization: OrganizationView | None
    claim_state: str
    token_class: str
    token: TokenInfo
    grants: list[str]
    local_owner: bool
    claim: WhoamiClaim | None
