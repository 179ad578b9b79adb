"""What ``image-skill admin`` does: async functions over one database session.

Each function validates its own inputs (INVALID_ARGUMENTS), answers NOT_FOUND
for ids that do not exist, and returns plain data for the envelope. The caller
owns the transaction (``session_scope``); nothing here commits.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract.errors import flag_required, invalid_arguments, not_found
from image_skill.contract.ids import iso, new_id, utc_now
from image_skill.service.admin import repository as admin_repository
from image_skill.service.credits import ledger
from image_skill.service.db.models import Actor, Feedback
from image_skill.service.identity import repository
from image_skill.service.identity.principal import CLAIM_STATES

MAX_LIMIT = 500
MAX_GRANT_CREDITS = 1_000_000
GRANT_REASON_PREFIX = "admin:"
MAX_REASON_CHARS = 64 - len(GRANT_REASON_PREFIX)  # the ledger's reason column is 64 wide
MAX_NOTE_CHARS = 2000  # the feedback triage_note column
ADMIN_REVOKED = "admin_revoked"
_STATE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# -- validation ---------------------------------------------------------------------------


def check_limit(limit: int | None, default: int = 50) -> int:
    """``limit`` within 1..MAX_LIMIT (``default`` when None)."""
    if limit is None:
        return default
    if not 1 <= limit <= MAX_LIMIT:
        raise invalid_arguments(f"--limit must be between 1 and {MAX_LIMIT}.", field="--limit")
    return limit


def check_claim_state(value: str | None) -> str | None:
    """One of the contract's claim states, or None."""
    if value is None:
        return None
    if value not in CLAIM_STATES:
        raise invalid_arguments(
            f"--claim-state must be one of {', '.join(CLAIM_STATES)}.", field="--claim-state"
        )
    return value


def check_next_state(value: str | None, *, required: bool) -> str | None:
    """A feedback state: a lower-case word such as ``watch`` (1-32 of a-z, 0-9, _ and -)."""
    if value is None:
        if required:
            raise flag_required("--next-state is required.", "--next-state")
        return None
    state = value.strip().lower()
    if not _STATE.match(state):
        raise invalid_arguments(
            "--next-state must be 1-32 characters: a lower-case letter, then letters, "
            "digits, _ or -.",
            field="--next-state",
        )
    return state


def _check_text(value: str, flag: str, limit: int) -> str:
    text = value.strip()
    if not text or len(text) > limit or _CONTROL.search(text):
        raise invalid_arguments(
            f"{flag} must be 1-{limit} characters with no control characters.", field=flag
        )
    return text


# -- views --------------------------------------------------------------------------------


def agent_view(agent: Actor, sponsor: Actor | None = None) -> dict[str, Any]:
    """An agent as the operator sees it (the sponsor's email in full: it is their database)."""
    return {
        "actor_id": agent.id,
        "actor_type": agent.actor_type,
        "organization_id": agent.organization_id,
        "name": agent.name,
        "runtime": agent.runtime,
        "claim_state": agent.claim_state,
        "sponsor": _sponsor_view(agent, sponsor),
        "created_at": iso(agent.created_at),
        "updated_at": iso(agent.updated_at),
    }


def feedback_view(row: Feedback) -> dict[str, Any]:
    """Every field of a feedback row."""
    return {
        "feedback_id": row.id,
        "organization_id": row.organization_id,
        "actor_id": row.actor_id,
        "type": row.type,
        "title": row.title,
        "body": row.body,
        "severity": row.severity,
        "confidence": row.confidence,
        "next_state": row.next_state,
        "command": row.command,
        "expected": row.expected,
        "actual": row.actual,
        "friction": row.friction,
        "proof_needed": row.proof_needed,
        "strategic_reason": row.strategic_reason,
        "dedupe_key": row.dedupe_key,
        "source": row.source,
        "trace_id": row.trace_id,
        "surface": list(row.surface or []),
        "evidence": list(row.evidence or []),
        "quality_warnings": list(row.quality_warnings or []),
        "occurrences": row.occurrences,
        "triage_note": row.triage_note,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


# -- agents -------------------------------------------------------------------------------


async def _agent(session: AsyncSession, actor_id: str, *, for_update: bool = False) -> Actor:
    agent = await admin_repository.agent(session, actor_id.strip(), for_update=for_update)
    if agent is None:
        raise not_found(
            "No agent has that id.", suggested_command="image-skill admin agents list --json"
        )
    return agent


def _sponsor_view(agent: Actor, sponsor: Actor | None) -> dict[str, Any] | None:
    """The human who confirmed a claim, else the (unverified) sponsor email the agent gave."""
    if sponsor is not None:
        return {
            "human_id": sponsor.id,
            "email": sponsor.email,
            "claim_state": sponsor.claim_state,
            "verified": sponsor.verified_at is not None,
        }
    if agent.sponsor_email:
        return {
            "human_id": None,
            "email": agent.sponsor_email,
            "claim_state": None,
            "verified": False,
        }
    return None


async def _sponsor(session: AsyncSession, agent: Actor) -> Actor | None:
    return None if agent.sponsor_id is None else await repository.actor(session, agent.sponsor_id)


async def list_agents(
    session: AsyncSession, *, claim_state: str | None = None, limit: int | None = None
) -> dict[str, Any]:
    """Agents, newest first, with their sponsor, balance and live token count."""
    state = check_claim_state(claim_state)
    size = check_limit(limit)
    agents = await admin_repository.agents(session, claim_state=state, limit=size)
    ids = [agent.id for agent in agents]
    sponsor_ids = {agent.sponsor_id for agent in agents if agent.sponsor_id}
    sponsors = await admin_repository.actors_by_id(session, sponsor_ids)
    balances = await admin_repository.balances(session, ids)
    live = await admin_repository.live_token_counts(session, ids)
    views = []
    for agent in agents:
        view = agent_view(agent, sponsors.get(agent.sponsor_id or ""))
        view["credits_balance"] = balances.get(agent.id, 0)
        view["live_tokens"] = live.get(agent.id, 0)
        views.append(view)
    return {
        "agents": views,
        "count": len(views),
        "filters": {"claim_state": state, "limit": size},
    }


async def claim_agent(session: AsyncSession, actor_id: str) -> dict[str, Any]:
    """Mark an agent ``claimed`` (a human sponsor vouched for it); repeating is a no-op."""
    agent = await _agent(session, actor_id, for_update=True)
    previous = agent.claim_state
    if previous == "revoked":
        raise invalid_arguments(
            "This agent is revoked; a revoked agent cannot be claimed.", field="ACTOR_ID"
        )
    if previous != "claimed":
        agent.claim_state = "claimed"
        agent.updated_at = utc_now()
        await session.flush()
    return {
        "agent": agent_view(agent, await _sponsor(session, agent)),
        "previous_claim_state": previous,
        "changed": previous != "claimed",
    }


async def revoke_tokens(
    session: AsyncSession, actor_id: str, *, revoke_agent: bool = False
) -> dict[str, Any]:
    """Revoke every live token of an agent; with ``revoke_agent`` the agent itself too."""
    agent = await _agent(session, actor_id, for_update=True)
    now: datetime = utc_now()
    revoked = await repository.revoke_tokens(session, agent.id, reason=ADMIN_REVOKED, at=now)
    previous = agent.claim_state
    if revoke_agent and previous != "revoked":
        agent.claim_state = "revoked"
        agent.updated_at = now
        await session.flush()
    return {
        "agent": agent_view(agent, await _sponsor(session, agent)),
        "tokens_revoked": revoked,
        "agent_revoked": agent.claim_state == "revoked",
        "previous_claim_state": previous,
    }


async def grant_credits(
    session: AsyncSession, actor_id: str, *, credits: int, reason: str
) -> dict[str, Any]:
    """Append one ``grant`` row (scope ``admin:<id>``, so each call adds exactly one row)."""
    if isinstance(credits, bool) or not 1 <= credits <= MAX_GRANT_CREDITS:
        raise invalid_arguments(
            f"--credits must be a whole number from 1 to {MAX_GRANT_CREDITS}.", field="--credits"
        )
    text = _check_text(reason, "--reason", MAX_REASON_CHARS)
    agent = await _agent(session, actor_id)
    if agent.claim_state == "revoked":
        raise invalid_arguments("This agent is revoked; it cannot use credits.", field="ACTOR_ID")
    grant_id = new_id("grant")
    entry = await ledger.grant_once(
        session,
        organization_id=agent.organization_id,
        actor_id=agent.id,
        amount=credits,
        reason=GRANT_REASON_PREFIX + text,
        scope=f"admin:{grant_id}",
        kind=ledger.GRANT,
        reference_id=grant_id,
    )
    return {
        "grant_id": grant_id,
        "credit_event_id": entry.id,
        "actor_id": agent.id,
        "organization_id": agent.organization_id,
        "credits": credits,
        "reason": entry.reason,
        "balance_after": await ledger.balance(session, agent.id),
        "created_at": iso(entry.created_at),
    }


# -- feedback -----------------------------------------------------------------------------


async def list_feedback(
    session: AsyncSession, *, next_state: str | None = None, limit: int | None = None
) -> dict[str, Any]:
    """Feedback, newest first, optionally only in one state."""
    state = check_next_state(next_state, required=False)
    size = check_limit(limit)
    rows = await admin_repository.feedback_rows(session, next_state=state, limit=size)
    return {
        "feedback": [feedback_view(row) for row in rows],
        "count": len(rows),
        "filters": {"next_state": state, "limit": size},
    }


async def triage_feedback(
    session: AsyncSession, feedback_id: str, *, next_state: str, note: str | None = None
) -> dict[str, Any]:
    """Move one feedback item to ``next_state`` (and record a triage note)."""
    state = check_next_state(next_state, required=True)
    assert state is not None
    text = None if note is None else _check_note(note)
    row = await admin_repository.feedback_for_update(session, feedback_id.strip())
    if row is None:
        raise not_found(
            "No feedback has that id.", suggested_command="image-skill admin feedback list --json"
        )
    previous = row.next_state
    row.next_state = state
    if text is not None:
        row.triage_note = text
    row.updated_at = utc_now()
    await session.flush()
    return {"feedback": feedback_view(row), "previous_next_state": previous}


def _check_note(note: str) -> str:
    text = note.strip()
    if not text or len(text) > MAX_NOTE_CHARS or re.search(r"[\x00-\x08\x0b-\x1f\x7f]", text):
        raise invalid_arguments(
            f"--note must be 1-{MAX_NOTE_CHARS} characters with no control characters "
            "other than newlines and tabs.",
            field="--note",
        )
    return text
