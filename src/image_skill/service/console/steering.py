"""What a signed-in human does to their organization: see agents, revoke or rotate a token,
see credits and spending, start a Stripe Checkout for an agent.

Revoking ends every live token of the agent at once (its next call answers
TOKEN_REVOKED); rotating does the same and issues one new token, which the
page shows once and never again (only its hash is stored). Credits belong to
agents (the ledger is per actor), so a purchase is made for one agent, through
the same quote and checkout code an agent's own ``credits buy`` uses.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from image_skill.contract.errors import not_found
from image_skill.contract.ids import utc_now
from image_skill.service.console import repository
from image_skill.service.console.views import days_back, when
from image_skill.service.credits.rails.stripe_checkout import buy_with_stripe
from image_skill.service.credits.service import create_quote
from image_skill.service.db.engine import session_scope
from image_skill.service.db.models import Actor
from image_skill.service.identity import repository as identity_repository
from image_skill.service.identity.grants import TOKEN_CLASS_RESTRICTED
from image_skill.service.identity.service import actor_principal, issue_token
from image_skill.service.settings import Settings

CHART_DAYS = 14
_FORM_KEY = re.compile(r"[0-9a-f]{32}")
AGENT_SPEND_DAYS = 30


@dataclass(frozen=True)
class CreditsOverview:
    """Balances and spending of an organization's agents."""

    total_balance: int
    balances: list[tuple[str, int]]
    spend_by_day: list[tuple[str, int]]
    spend_by_agent: list[tuple[str, int]]


def new_form_key() -> str:
    """A key for one buy form (see ``start_checkout``)."""
    return secrets.token_hex(16)


async def agent_rows(session: AsyncSession, organization_id: str) -> list[dict[str, Any]]:
    """The organization's agents with claim state, last use and balance."""
    agents = await repository.agents(session, organization_id)
    last = await repository.last_activity(session, organization_id)
    balances = await repository.balances(session, [a.id for a in agents])
    return [
        {
            "agent_id": agent.id,
            "name": agent.name,
            "runtime": agent.runtime or "",
            "claim_state": agent.claim_state,
            "created_at": when(agent.created_at),
            "last_used_at": when(last.get(agent.id)),
            "balance": balances.get(agent.id, 0),
        }
        for agent in agents
    ]


async def revoke_agent(session: AsyncSession, organization_id: str, agent_id: str) -> Actor:
    """Revoke every live token of the organization's agent (NOT_FOUND for another's)."""
    agent = await _agent(session, organization_id, agent_id)
    await identity_repository.revoke_tokens(session, agent.id, reason="revoked", at=utc_now())
    return agent


async def rotate_agent(
    session: AsyncSession, organization_id: str, agent_id: str, *, pepper: str
) -> tuple[Actor, str]:
    """Replace the agent's tokens with one new token; returns the raw token (shown once)."""
    agent = await _agent(session, organization_id, agent_id)
    await identity_repository.lock(session, f"rotate:{agent.id}")
    await identity_repository.revoke_tokens(session, agent.id, reason="rotated", at=utc_now())
    raw, row = issue_token(agent.id, TOKEN_CLASS_RESTRICTED, pepper=pepper)
    session.add(row)
    await session.flush()
    return agent, raw


async def credits_overview(session: AsyncSession, organization_id: str) -> CreditsOverview:
    """Balances per agent, spend per UTC day (two weeks) and per agent (30 days)."""
    now = utc_now()
    agents = await repository.agents(session, organization_id)
    names = {agent.id: agent.name for agent in agents}
    balances = await repository.balances(session, list(names))
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    by_day = await repository.spend_by_day(
        session, organization_id, day_start - timedelta(days=CHART_DAYS - 1)
    )
    by_actor = await repository.spend_by_actor(
        session, organization_id, now - timedelta(days=AGENT_SPEND_DAYS)
    )
    return CreditsOverview(
        total_balance=sum(balances.values()),
        balances=[(names[a], balances.get(a, 0)) for a in names],
        spend_by_day=[(day, by_day.get(day, 0)) for day in days_back(now.date(), CHART_DAYS)],
        spend_by_agent=[
            (names.get(actor, "(not an agent)"), spent)
            for actor, spent in sorted(by_actor.items(), key=lambda item: -item[1])
        ],
    )


async def start_checkout(
    engine: AsyncEngine,
    settings: Settings,
    organization_id: str,
    agent_id: str,
    pack_id: str,
    *,
    form_key: str,
    trace_id: str,
) -> str | None:
    """A Stripe Checkout Session buying ``pack_id`` for the agent; returns its URL.

    ``form_key`` is the random key the credits page put in its form, so the same form
    sent twice (a double click, a reload) finds the first checkout instead of a second.
    """
    fresh = _FORM_KEY.fullmatch(form_key) is None
    key = "console-" + (secrets.token_hex(16) if fresh else form_key)
    async with session_scope(engine, write=True) as session:
        agent = await _agent(session, organization_id, agent_id)
        principal = actor_principal(agent, TOKEN_CLASS_RESTRICTED)
        quote = await create_quote(
            session,
            settings,
            principal,
            credits=None,
            pack_id=pack_id,
            payment_method="stripe_checkout",
            idempotency_key=key,
        )
        quote_id = quote.data.id
    outcome = await buy_with_stripe(
        engine, settings, principal, quote_id=quote_id, idempotency_key=key, trace_id=trace_id
    )
    url = outcome.data.get("checkout_url")
    return str(url) if url else None


async def _agent(session: AsyncSession, organization_id: str, agent_id: str) -> Actor:
    agent = await repository.agent(session, organization_id, agent_id)
    if agent is None:
        raise not_found("No such agent in your organization.", field="agent_id")
    return agent
