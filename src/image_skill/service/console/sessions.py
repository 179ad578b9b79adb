"""Signing a human in to the console by an emailed link, and the sessions that follow.

Only a human who verified a claim (opened a claim link and confirmed it) can
sign in: that is the person behind the agents, proven by their mailbox. Asking
for a link answers the same whatever the address, so the form cannot be used
to learn who has an account. A link works once, for a few minutes; the session
it opens lives in a row (only a keyed hash of its cookie's token is stored),
bound to the human's organization at sign-in, and ends at its expiry, at sign
out, or as soon as the human no longer belongs to that organization.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract.ids import new_id, utc_now
from image_skill.service.console import repository, secrets
from image_skill.service.db.console_models import ConsoleSession, ConsoleSignInLink
from image_skill.service.db.models import Actor, Organization
from image_skill.service.identity import repository as identity_repository

LINK_TTL = timedelta(minutes=15)
SESSION_TTL = timedelta(days=7)
# last_seen_at is written at most this often, so reading pages stays read-only.
_TOUCH_EVERY = timedelta(minutes=5)


class LinkUnusable(Exception):
    """A sign-in link that is unknown, used or expired (shown as a page, never a 500)."""


@dataclass(frozen=True)
class Viewer:
    """A signed-in human, the organization they see, and their session's CSRF token."""

    session_id: str
    human: Actor
    organization: Organization
    csrf: str
    stale: bool


async def open_link(session: AsyncSession, email: str, *, pepper: str) -> tuple[Actor, str] | None:
    """A new sign-in link for a verified human: (human, raw token); None for anyone else."""
    human = await identity_repository.human_by_email(session, email)
    if human is None or human.verified_at is None:
        return None
    now = utc_now()
    token = secrets.new_secret()
    session.add(
        ConsoleSignInLink(
            id=new_id("csl"),
            human_id=human.id,
            token_hash=secrets.hash_link(token, pepper),
            expires_at=now + LINK_TTL,
            created_at=now,
        )
    )
    await session.flush()
    return human, token


async def sign_in(session: AsyncSession, link_token: str, *, pepper: str) -> tuple[Viewer, str]:
    """Spend a sign-in link and open a session: the viewer and the cookie's raw token."""
    if not secrets.is_well_formed(link_token):
        raise LinkUnusable()
    link = await repository.link_by_hash(session, secrets.hash_link(link_token, pepper))
    now = utc_now()
    if link is None or link.used_at is not None or _aware(link.expires_at) <= now:
        raise LinkUnusable()
    link.used_at = now
    human = await identity_repository.actor(session, link.human_id)
    if human is None or human.verified_at is None:
        raise LinkUnusable()
    organization = await identity_repository.organization(session, human.organization_id)
    assert organization is not None
    token = secrets.new_secret()
    row = ConsoleSession(
        id=new_id("css"),
        token_hash=secrets.hash_session(token, pepper),
        human_id=human.id,
        email=human.email or "",
        organization_id=organization.id,
        created_at=now,
        expires_at=now + SESSION_TTL,
        last_seen_at=now,
    )
    session.add(row)
    await session.flush()
    viewer = Viewer(row.id, human, organization, secrets.csrf_token(token, pepper), False)
    return viewer, token


def link_is_well_formed(link_token: str) -> bool:
    """True if the token could be a sign-in link's (checked before showing its page)."""
    return secrets.is_well_formed(link_token)


async def viewer_of(session: AsyncSession, cookie: str | None, *, pepper: str) -> Viewer | None:
    """The signed-in human behind a session cookie, or None (missing, unknown, expired,
    revoked, or the human left the session's organization)."""
    if not cookie or not secrets.is_well_formed(cookie):
        return None
    row = await repository.session_by_hash(session, secrets.hash_session(cookie, pepper))
    now = utc_now()
    if row is None or row.revoked_at is not None or _aware(row.expires_at) <= now:
        return None
    human = await identity_repository.actor(session, row.human_id)
    if human is None or human.verified_at is None or human.organization_id != row.organization_id:
        return None
    organization = await identity_repository.organization(session, row.organization_id)
    if organization is None:
        return None
    stale = now - _aware(row.last_seen_at) >= _TOUCH_EVERY
    return Viewer(row.id, human, organization, secrets.csrf_token(cookie, pepper), stale)


async def touch(session: AsyncSession, viewer: Viewer) -> None:
    """Record the session's use now."""
    await repository.touch_session(session, viewer.session_id, at=utc_now())


async def sign_out(session: AsyncSession, viewer: Viewer) -> None:
    """Revoke the viewer's session: its cookie stops working everywhere at once."""
    await repository.revoke_session(session, viewer.session_id, at=utc_now())


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# Ended links and sessions are only kept this long (nothing reads them after their end).
KEEP_ENDED = timedelta(days=1)
PRUNE_BATCH = 1000


async def prune_ended(session: AsyncSession, now: datetime) -> int:
    """Delete links and sessions that ended over ``KEEP_ENDED`` ago, a batch at a time;
    returns how many went (call again until none)."""
    return await repository.delete_ended(session, before=now - KEEP_ENDED, limit=PRUNE_BATCH)
