"""Request bodies and public shapes of identity objects (never the raw token, never a hash)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from image_skill.contract.ids import iso
from image_skill.service.db.models import Actor, ApiToken, Organization
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
