"""Asking to be claimed and confirming a claim.

An agent's sponsor email is only a request. The agent asks for a claim; the
service mails that address a one-time link; whoever opens it and presses
Confirm proves they read that mailbox. Only then does a human exist (found or
created by the verified email, with an organization of their own on their
first verified claim) and only then does the agent move into that
organization. Links are bound to one claim, expire, work once, and a newer
request supersedes an older link. Only a keyed hash of a link's token is
stored, and the token never appears in any API answer.

``claim_sponsor_email`` and ``send_claim`` take the engine rather than a
request session: the claim row is committed before the email is sent, so a
link in a message always names a stored claim; a failed send is a retryable
error and the agent simply asks again (which supersedes the unsent link).
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from image_skill.contract.errors import (
    ErrorCode,
    ImageSkillError,
    conflict,
    invalid_arguments,
    not_found,
)
from image_skill.contract.ids import iso, new_id, utc_now
from image_skill.service.activity.recorder import Headline, Origin, record
from image_skill.service.claims import links, repository
from image_skill.service.claims.message import claim_message
from image_skill.service.claims.repository import CONFIRMED, PENDING, SUPERSEDED
from image_skill.service.claims.transfer import move_agent
from image_skill.service.db.engine import session_scope
from image_skill.service.db.models import Actor, Claim, Organization
from image_skill.service.identity import repository as identity_repository
from image_skill.service.identity.principal import Principal
from image_skill.service.identity.schemas import mask_email
from image_skill.service.mail import MailBackend, MailDeliveryFailed
from image_skill.service.settings import Settings

log = logging.getLogger("image_skill.service")

CLAIMABLE_STATES = ("unclaimed", "payment_backed_unclaimed")
EXPIRED = "expired"
_RETRY_AFTER_SECONDS = 30
_CLAIMED = Headline("agent.claimed", "Agent claimed by its human sponsor", "completed")


class LinkProblem(Exception):
    """A claim link that cannot be used: shown to the human as a page, never a 500."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.message = message


@dataclass(frozen=True)
class ConfirmedClaim:
    """What a confirmation did."""

    claim: Claim
    agent: Actor
    human: Actor
    organization: Organization


def state_of(claim: Claim, now: datetime) -> str:
    """pending, confirmed, superseded or expired (a pending claim past its expiry)."""
    if claim.state == PENDING and _aware(claim.expires_at) <= now:
        return EXPIRED
    return claim.state


def claim_view(claim: Claim, now: datetime) -> dict[str, Any]:
    """The public form of a claim: never the link or its token."""
    return {
        "claim_id": claim.id,
        "state": state_of(claim, now),
        "agent_id": claim.agent_id,
        "sponsor_email": mask_email(claim.sponsor_email),
        "expires_at": iso(claim.expires_at),
        "created_at": iso(claim.created_at),
        "confirmed_at": iso(claim.confirmed_at),
    }


async def claimable_agent(session: AsyncSession, principal: Principal) -> Actor:
    """The calling agent if it may ask to be claimed, else the error that says why."""
    if principal.actor_type != "agent":
        raise ImageSkillError(
            ErrorCode.CAPABILITY_DENIED,
            "Only an agent can ask to be claimed; this token belongs to a human.",
            recovery={"suggested_command": "image-skill whoami --json"},
        )
    agent = await identity_repository.actor(session, principal.actor_id)
    if agent is None or agent.claim_state == "claimed":
        raise conflict(
            "This agent is already claimed.", suggested_command="image-skill whoami --json"
        )
    if agent.claim_state not in CLAIMABLE_STATES:
        raise ImageSkillError(ErrorCode.TOKEN_REVOKED, "This token has been revoked.")
    if not agent.sponsor_email:
        raise invalid_arguments(
            "This agent has no sponsor email. Sign up again with its current token and "
            "--human-email to record one.",
            field="human_email",
        )
    return agent


async def open_claim(
    session: AsyncSession, principal: Principal, *, pepper: str, ttl_seconds: int
) -> tuple[Claim, Actor, str]:
    """Supersede the agent's pending claims and open a new one; returns it, the agent and
    the raw link token (for the email only)."""
    agent = await claimable_agent(session, principal)
    now = utc_now()
    await repository.supersede_pending(session, agent.id, at=now)
    token = links.new_link_token()
    assert agent.sponsor_email is not None
    claim = Claim(
        id=new_id("claim"),
        agent_id=agent.id,
        sponsor_email=agent.sponsor_email,
        token_hash=links.hash_link_token(token, pepper),
        state=PENDING,
        expires_at=now + timedelta(seconds=ttl_seconds),
        created_at=now,
        updated_at=now,
    )
    session.add(claim)
    await session.flush()
    return claim, agent, token


async def claim_sponsor_email(engine: AsyncEngine, principal: Principal) -> str:
    """The address a claim of this agent goes to; refuses an agent that cannot be claimed."""
    async with session_scope(engine, write=False) as session:
        agent = await claimable_agent(session, principal)
    assert agent.sponsor_email is not None
    return agent.sponsor_email


async def send_claim(
    engine: AsyncEngine, settings: Settings, principal: Principal, mailer: MailBackend
) -> Claim:
    """Open a claim (committed first), then mail its one-time link to the sponsor."""
    async with session_scope(engine, write=True) as session:
        claim, agent, token = await open_claim(
            session,
            principal,
            pepper=settings.token_pepper,
            ttl_seconds=settings.claim_link_ttl_seconds,
        )
    try:
        await mailer.send(claim_message(claim, agent, links.link_url(settings, token)))
    except MailDeliveryFailed as exc:
        cause = type(exc.__cause__).__name__ if exc.__cause__ else "none"
        log.warning("claim mail not sent: backend=%s cause=%s", mailer.name, cause)
        raise ImageSkillError(
            ErrorCode.SERVICE_UNAVAILABLE,
            "The claim email could not be sent right now; request the claim again shortly.",
            recovery={
                "suggested_command": "image-skill claim request --json",
                "retry_after_seconds": _RETRY_AFTER_SECONDS,
            },
        ) from None
    return claim


async def agent_claim(session: AsyncSession, principal: Principal, claim_id: str) -> Claim:
    """The caller's own claim, or NOT_FOUND (the same for another agent's and a missing one)."""
    claim = await repository.for_agent(session, principal.actor_id, claim_id)
    if claim is None:
        raise not_found(
            "No claim with this id belongs to this agent.",
            suggested_command="image-skill claim status --json",
            field="claim_id",
        )
    return claim


async def whoami_claim(session: AsyncSession, principal: Principal) -> dict[str, Any] | None:
    """The ``claim`` block of whoami for an agent (None for other actors)."""
    if principal.actor_type != "agent":
        return None
    agent = await identity_repository.actor(session, principal.actor_id)
    if agent is None:
        return None
    now = utc_now()
    confirmed = await repository.latest_in_state(session, agent.id, CONFIRMED)
    pending = await repository.latest_in_state(session, agent.id, PENDING)
    human = await identity_repository.actor(session, agent.sponsor_id) if agent.sponsor_id else None
    return {
        "state": agent.claim_state,
        "claimed_at": iso(confirmed.confirmed_at) if confirmed else None,
        "human_email": mask_email(human.email) if human else None,
        "sponsor_email": mask_email(agent.sponsor_email),
        "pending_claim_id": pending.id if pending and state_of(pending, now) == PENDING else None,
    }


async def link_claim(session: AsyncSession, token: str, *, pepper: str) -> tuple[Claim, Actor]:
    """The usable claim behind a link and its agent, or the ``LinkProblem`` to show."""
    return await _usable(session, token, pepper=pepper, for_update=False)


async def confirm_link(
    session: AsyncSession, token: str, form_token: str, *, pepper: str, trace_id: str | None
) -> ConfirmedClaim:
    """Confirm the claim behind a link: in this one transaction the human is found or created
    (verified), the agent and its rows move into the human's organization, and the link is
    spent."""
    if not hmac.compare_digest(token.encode(), form_token.encode()):
        raise LinkProblem(
            400,
            "This form does not match its link",
            "Open the link from the email again and press Confirm on that page.",
        )
    claim, agent = await _usable(session, token, pepper=pepper, for_update=True)
    now = utc_now()
    human, organization = await _verified_human(session, claim.sponsor_email, now)
    await move_agent(session, agent, human.organization_id)
    agent.claim_state = "claimed"
    agent.sponsor_id = human.id
    agent.updated_at = now
    claim.state = CONFIRMED
    claim.confirmed_at = now
    claim.human_id = human.id
    claim.updated_at = now
    await session.flush()
    await repository.supersede_pending(session, agent.id, at=now)
    origin = Origin(human.organization_id, agent.id, trace_id)
    await record(session, _CLAIMED, origin, subject_id=agent.id, links={"claim_id": claim.id})
    return ConfirmedClaim(claim, agent, human, organization)


async def _usable(
    session: AsyncSession, token: str, *, pepper: str, for_update: bool
) -> tuple[Claim, Actor]:
    not_found = LinkProblem(
        404,
        "This claim link is not valid",
        "Check that the whole link was copied from the email, or ask the agent to request "
        "a new claim.",
    )
    if not links.is_well_formed(token):
        raise not_found
    claim = await repository.by_token_hash(
        session, links.hash_link_token(token, pepper), for_update=for_update
    )
    if claim is None:
        raise not_found
    state = state_of(claim, utc_now())
    if state == CONFIRMED:
        raise LinkProblem(
            410, "This link was already used", "The claim was confirmed; nothing more to do."
        )
    if state == SUPERSEDED:
        raise LinkProblem(
            410,
            "This link was replaced",
            "The agent asked again, so a newer email holds the link that works.",
        )
    if state == EXPIRED:
        raise LinkProblem(
            410,
            "This link has expired",
            "Ask the agent to request a new claim (image-skill claim request).",
        )
    agent = await identity_repository.actor(session, claim.agent_id)
    if agent is None or agent.claim_state not in CLAIMABLE_STATES:
        raise LinkProblem(
            410, "This agent can no longer be claimed", "It was claimed or revoked meanwhile."
        )
    return claim, agent


async def _verified_human(
    session: AsyncSession, email: str, now: datetime
) -> tuple[Actor, Organization]:
    """The human who owns ``email``, verified now; their organization is created on their
    first verified claim (a human recorded before verification existed gets a fresh one,
    since agents were once grouped under unverified emails)."""
    await identity_repository.lock(session, f"human:{email}")
    human = await identity_repository.human_by_email(session, email)
    if human is not None and human.verified_at is not None:
        organization = await identity_repository.organization(session, human.organization_id)
        assert organization is not None
        return human, organization
    organization = Organization(
        id=new_id("org"), name=f"{email.split('@', 1)[0][:80]} organization", created_at=now
    )
    session.add(organization)
    await session.flush()
    if human is None:
        human = Actor(
            id=new_id("hum"),
            organization_id=organization.id,
            actor_type="human",
            name=email.split("@", 1)[0][:100],
            email=email,
            claim_state="claimed",
            created_at=now,
            updated_at=now,
        )
        session.add(human)
    human.organization_id = organization.id
    human.verified_at = now
    human.claim_state = "claimed"
    human.updated_at = now
    await session.flush()
    return human, organization


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
