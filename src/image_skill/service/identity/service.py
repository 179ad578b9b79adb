"""Signup, token rotation, authentication and the local owner.

Signup for an (email, agent name) pair that already exists rotates the token:
every earlier token of that agent is revoked in the same transaction as the new
one is issued, so there is never a moment with two valid tokens. Agents past
``unclaimed`` hold paid credits or a sponsor's trust, so rotating theirs needs
the current token as proof.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract import tokens
from image_skill.contract.errors import ImageSkillError, invalid_arguments
from image_skill.contract.ids import new_id, utc_now
from image_skill.service.credits.ledger import grant_once
from image_skill.service.db.models import Actor, ApiToken, Organization
from image_skill.service.identity import repository
from image_skill.service.identity.grants import TOKEN_CLASS_LOCAL_OWNER, TOKEN_CLASS_RESTRICTED
from image_skill.service.identity.principal import Principal

_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._:@/+-]{0,99}$")
LOCAL_OWNER_EMAIL = "owner@localhost"


@dataclass(frozen=True)
class SignupResult:
    """What signup produced; ``token`` is the only copy of the raw secret."""

    agent: Actor
    human: Actor
    organization: Organization
    token: str
    token_row: ApiToken
    rotated: bool
    free_preview_credits: int


def normalize_email(value: str) -> str:
    """Trimmed, lower-cased email, or INVALID_ARGUMENTS."""
    email = value.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise invalid_arguments("human_email must be a valid email address.", field="human_email")
    return email


def normalize_name(value: str, field: str) -> str:
    """A trimmed display name of 1-100 safe characters, or INVALID_ARGUMENTS."""
    name = value.strip()
    if not _NAME.match(name):
        raise invalid_arguments(
            f"{field} must be 1-100 characters: letters, digits, space and . _ : @ / + -",
            field=field,
        )
    return name


async def signup_agent(
    session: AsyncSession,
    *,
    human_email: str,
    agent_name: str,
    runtime: str | None,
    free_preview_credits: int,
    presented: Principal | None,
    pepper: str,
) -> SignupResult:
    """Create (or rotate the token of) the agent ``agent_name`` sponsored by ``human_email``."""
    email = normalize_email(human_email)
    name = normalize_name(agent_name, "agent_name")
    runtime_name = normalize_name(runtime, "runtime") if runtime else None
    now = utc_now()

    await repository.lock_human_email(session, email)
    human = await repository.human_by_email(session, email)
    if human is None:
        org = Organization(id=new_id("org"), name=f"{name} workspace", created_at=now)
        session.add(org)
        await session.flush()
        human = Actor(
            id=new_id("hum"),
            organization_id=org.id,
            actor_type="human",
            name=email.split("@", 1)[0][:100],
            email=email,
            claim_state="unclaimed",
            created_at=now,
            updated_at=now,
        )
        session.add(human)
        await session.flush()
    else:
        org = await repository.organization(session, human.organization_id)  # type: ignore[assignment]

    agent = await repository.agent_by_sponsor_and_name(session, human.id, name)
    rotated = agent is not None
    granted = 0
    if agent is None:
        agent = Actor(
            id=new_id("agt"),
            organization_id=human.organization_id,
            actor_type="agent",
            name=name,
            runtime=runtime_name,
            sponsor_id=human.id,
            claim_state="unclaimed",
            created_at=now,
            updated_at=now,
        )
        session.add(agent)
        await session.flush()
        if free_preview_credits > 0:
            await grant_once(
                session,
                organization_id=agent.organization_id,
                actor_id=agent.id,
                amount=free_preview_credits,
                reason="free_preview",
                scope=f"free_preview:{agent.id}",
            )
            granted = free_preview_credits
    else:
        _check_rotation_allowed(agent, presented)
        await repository.revoke_tokens(session, agent.id, reason="rotated", at=now)
        if runtime_name:
            agent.runtime = runtime_name
        agent.updated_at = now

    raw, row = _issue_token(agent.id, TOKEN_CLASS_RESTRICTED, pepper=pepper)
    session.add(row)
    await session.flush()
    assert org is not None
    return SignupResult(agent, human, org, raw, row, rotated, granted)


def _check_rotation_allowed(agent: Actor, presented: Principal | None) -> None:
    if agent.claim_state == "revoked":
        raise ImageSkillError(
            "TOKEN_REVOKED",
            "This agent has been revoked; signup cannot issue it a new token.",
            recovery={"suggested_command": "image-skill feedback create --json"},
        )
    if agent.claim_state == "unclaimed":
        return
    if presented is None or presented.actor_id != agent.id:
        raise ImageSkillError(
            "CLAIM_REQUIRED",
            "This agent holds payment-backed or claimed access; rotating its token "
            "requires its current token.",
            recovery={
                "suggested_command": "image-skill signup --agent --token-stdin "
                "--human-email EMAIL --agent-name NAME --json"
            },
        )


def _issue_token(actor_id: str, token_class: str, *, pepper: str) -> tuple[str, ApiToken]:
    raw = tokens.generate_token()
    row = ApiToken(
        id=new_id("tok"),
        actor_id=actor_id,
        token_hash=tokens.hash_token(raw, pepper),
        display_prefix=tokens.display_prefix(raw),
        token_class=token_class,
        created_at=utc_now(),
    )
    return raw, row


async def authenticate(session: AsyncSession, raw: str, *, pepper: str) -> Principal:
    """Resolve a bearer token to its principal or raise an auth error."""
    if not tokens.is_well_formed(raw):
        raise _auth_invalid()
    found = await repository.token_with_actor(session, tokens.hash_token(raw, pepper))
    if found is None:
        raise _auth_invalid()
    token, actor = found
    if token.revoked_at is not None or actor.claim_state == "revoked":
        reason = (
            "This token was replaced by a newer signup for the same agent."
            if token.revoked_reason == "rotated"
            else "This token has been revoked."
        )
        raise ImageSkillError(
            "TOKEN_REVOKED",
            reason,
            recovery={"suggested_command": "image-skill auth status --json"},
        )
    return Principal(
        actor_id=actor.id,
        actor_type=actor.actor_type,
        organization_id=actor.organization_id,
        claim_state=actor.claim_state,
        token_class=token.token_class,
        token_id=token.id,
        is_local_owner=actor.is_local_owner,
    )


def _auth_invalid() -> ImageSkillError:
    return ImageSkillError(
        "AUTH_INVALID",
        "The token is not valid for this service.",
        recovery={
            "suggested_command": "image-skill signup --agent --human-email EMAIL "
            "--agent-name NAME --save --json"
        },
    )


def owner_principal(owner: Actor) -> Principal:
    """The principal of the embedded mode's local owner."""
    return Principal(
        actor_id=owner.id,
        actor_type=owner.actor_type,
        organization_id=owner.organization_id,
        claim_state=owner.claim_state,
        token_class=TOKEN_CLASS_LOCAL_OWNER,
        is_local_owner=True,
    )


async def ensure_local_owner(session: AsyncSession) -> Actor:
    """The local owner, created on first use (call inside a write transaction)."""
    owner = await repository.local_owner(session)
    if owner is not None:
        return owner
    now = utc_now()
    org = Organization(id=new_id("org"), name="Local workspace", created_at=now)
    owner = Actor(
        id=new_id("hum"),
        organization_id=org.id,
        actor_type="human",
        name="local-owner",
        email=LOCAL_OWNER_EMAIL,
        claim_state="claimed",
        is_local_owner=True,
        created_at=now,
        updated_at=now,
    )
    session.add(org)
    await session.flush()
    session.add(owner)
    await session.flush()
    return owner
