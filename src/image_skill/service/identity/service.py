"""Signup, token rotation, authentication and the local owner.

An unverified email proves nothing, so signup never looks anything up by it:
every signup without proof creates a new agent in a new organization of its
own and records the email only as the sponsor the agent may ask to be claimed
by (see ``service/claims``). Neither the status, the body nor the work done
depends on whether the email or the agent name was seen before.

Rotation needs proof: the agent's current token, sent as ``Authorization:
Bearer`` with a signup for the same agent name. Every earlier token is revoked
in the same transaction as the new one is issued, so there is never a moment
with two valid tokens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract import tokens
from image_skill.contract.errors import ErrorCode, ImageSkillError, invalid_arguments
from image_skill.contract.ids import new_id, utc_now
from image_skill.service.claims.repository import supersede_pending
from image_skill.service.db.models import Actor, ApiToken, Organization
from image_skill.service.identity import repository
from image_skill.service.identity.free_preview import grant_free_preview
from image_skill.service.identity.grants import TOKEN_CLASS_LOCAL_OWNER, TOKEN_CLASS_RESTRICTED
from image_skill.service.identity.principal import Principal

_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._:@/+-]{0,99}$")
LOCAL_OWNER_EMAIL = "owner@localhost"


@dataclass(frozen=True)
class SignupResult:
    """What signup produced; ``token`` is the only copy of the raw secret."""

    agent: Actor
    organization: Organization
    token: str
    token_row: ApiToken
    rotated: bool
    free_preview_credits: int
    free_preview_exhausted: bool

    def warnings(self, *, token_returned: bool) -> list[str]:
        """The envelope warnings of this signup's answer."""
        warnings: list[str] = []
        if self.free_preview_exhausted:
            warnings.append(
                "Today's free preview credits are used up service-wide; this agent starts with "
                "0 credits (claim it or buy credits)."
            )
        if self.rotated:
            warnings.append("Earlier tokens of this agent were revoked; use the new one.")
        if not token_returned:
            warnings.append(
                "The token was not returned; sign up again (a new agent) to receive one."
            )
        return warnings


@dataclass(frozen=True)
class FreePreviewPolicy:
    """Credits each new agent gets, and the most the service grants per UTC day."""

    credits: int
    daily_ceiling: int


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
    free_preview: FreePreviewPolicy,
    presented: Principal | None,
    pepper: str,
) -> SignupResult:
    """Rotate the presenting agent's token (same name, valid token), else create a new agent."""
    email = normalize_email(human_email)
    name = normalize_name(agent_name, "agent_name")
    runtime_name = normalize_name(runtime, "runtime") if runtime else None

    rotated = await _rotate(session, presented, name, email, runtime_name, pepper=pepper)
    if rotated is not None:
        return rotated

    now = utc_now()
    org = Organization(id=new_id("org"), name=f"{name} workspace", created_at=now)
    session.add(org)
    await session.flush()
    agent = Actor(
        id=new_id("agt"),
        organization_id=org.id,
        actor_type="agent",
        name=name,
        runtime=runtime_name,
        sponsor_email=email,
        claim_state="unclaimed",
        created_at=now,
        updated_at=now,
    )
    session.add(agent)
    await session.flush()
    granted = await grant_free_preview(
        session,
        organization_id=org.id,
        actor_id=agent.id,
        credits=free_preview.credits,
        daily_ceiling=free_preview.daily_ceiling,
        now=now,
    )
    raw, row = issue_token(agent.id, TOKEN_CLASS_RESTRICTED, pepper=pepper)
    session.add(row)
    await session.flush()
    exhausted = free_preview.credits > 0 and granted == 0
    return SignupResult(agent, org, raw, row, False, granted, exhausted)


async def _rotate(
    session: AsyncSession,
    presented: Principal | None,
    name: str,
    email: str,
    runtime: str | None,
    *,
    pepper: str,
) -> SignupResult | None:
    """A new token for the presenting agent when it names itself; None means "create"."""
    if presented is None or presented.actor_type != "agent" or presented.token_id is None:
        return None
    agent = await repository.actor(session, presented.actor_id)
    if agent is None or agent.name != name or agent.claim_state == "revoked":
        return None
    # Two rotations with one token must not both leave a live token behind.
    await repository.lock(session, f"rotate:{agent.id}")
    if not await repository.token_is_live(session, presented.token_id):
        return None
    now = utc_now()
    await repository.revoke_tokens(session, agent.id, reason="rotated", at=now)
    if runtime:
        agent.runtime = runtime
    if agent.claim_state != "claimed" and agent.sponsor_email != email:
        # The token holder corrects its sponsor; links sent to the old address stop working.
        agent.sponsor_email = email
        await supersede_pending(session, agent.id, at=now)
    agent.updated_at = now
    raw, row = issue_token(agent.id, TOKEN_CLASS_RESTRICTED, pepper=pepper)
    session.add(row)
    await session.flush()
    org = await repository.organization(session, agent.organization_id)
    assert org is not None
    return SignupResult(agent, org, raw, row, True, 0, False)


def issue_token(actor_id: str, token_class: str, *, pepper: str) -> tuple[str, ApiToken]:
    """A new token for ``actor_id``: the raw value (shown once) and its unsaved row."""
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
    holder = await repository.token_with_actor(session, tokens.hash_token(raw, pepper))
    if holder is None:
        raise _auth_invalid()
    if holder.revoked_at is not None or holder.claim_state == "revoked":
        reason = (
            "This token was replaced by a newer signup for the same agent."
            if holder.revoked_reason == "rotated"
            else "This token has been revoked."
        )
        raise ImageSkillError(
            ErrorCode.TOKEN_REVOKED,
            reason,
            recovery={"suggested_command": "image-skill auth status --json"},
        )
    return Principal(
        actor_id=holder.actor_id,
        actor_type=holder.actor_type,
        organization_id=holder.organization_id,
        claim_state=holder.claim_state,
        token_class=holder.token_class,
        token_id=holder.token_id,
        is_local_owner=holder.is_local_owner,
    )


def _auth_invalid() -> ImageSkillError:
    return ImageSkillError(
        ErrorCode.AUTH_INVALID,
        "The token is not valid for this service.",
        recovery={
            "suggested_command": "image-skill signup --agent --human-email EMAIL "
            "--agent-name NAME --save --json"
        },
    )


def owner_principal(owner: Actor) -> Principal:
    """The principal of the embedded mode's local owner."""
    return actor_principal(owner, TOKEN_CLASS_LOCAL_OWNER, is_local_owner=True)


def actor_principal(
    actor: Actor,
    token_class: str,
    *,
    token_id: str | None = None,
    is_local_owner: bool = False,
    organization_id: str | None = None,
) -> Principal:
    """The principal of ``actor`` acting with a token of ``token_class`` (for its own
    organization, unless ``organization_id`` names the one a job was admitted for)."""
    return Principal(
        actor_id=actor.id,
        actor_type=actor.actor_type,
        organization_id=organization_id or actor.organization_id,
        claim_state=actor.claim_state,
        token_class=token_class,
        token_id=token_id,
        is_local_owner=is_local_owner,
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
