"""Moving a claimed agent and everything it owns into its human's organization.

Every table with an ``organization_id`` column is considered, so a table added
later moves too without anyone remembering this module. An agent that signed
up under the current rules is alone in its organization, so all of that
organization's rows are its own. Older agents may share an organization with
others (signup used to group agents by an unverified email); then only rows
carrying the agent's ``actor_id`` move, never a neighbour's.
"""

from __future__ import annotations

from sqlalchemy import Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.service.db.models import ActivityEvent, ActivityRef, Actor, Base, Feedback

# Handled explicitly below: the agent row itself, the event index, feedback keys.
_SPECIAL = {Actor.__tablename__, ActivityRef.__tablename__}


async def move_agent(session: AsyncSession, agent: Actor, target_org: str) -> None:
    """Move ``agent`` and its rows from its organization to ``target_org`` (one transaction)."""
    source_org = agent.organization_id
    if source_org == target_org:
        return
    others = await session.scalar(
        select(func.count())
        .select_from(Actor)
        .where(Actor.organization_id == source_org, Actor.id != agent.id)
    )
    alone = not others
    await _free_feedback_keys(session, agent.id, source_org, target_org, alone=alone)
    for table in Base.metadata.sorted_tables:
        if table.name in _SPECIAL or "organization_id" not in table.c:
            continue
        condition = table.c.organization_id == source_org
        if not alone:
            if "actor_id" not in table.c:
                continue
            condition = condition & (table.c.actor_id == agent.id)
        await session.execute(update(table).where(condition).values(organization_id=target_org))
    await _move_activity_refs(session, source_org, target_org)
    agent.organization_id = target_org
    await session.flush()


async def _free_feedback_keys(
    session: AsyncSession, agent_id: str, source_org: str, target_org: str, *, alone: bool
) -> None:
    """Feedback dedupe keys are unique per organization: a moved duplicate stops deduping."""
    taken = select(Feedback.dedupe_key).where(
        Feedback.organization_id == target_org, Feedback.dedupe_key.is_not(None)
    )
    condition = (Feedback.organization_id == source_org) & Feedback.dedupe_key.in_(taken)
    if not alone:
        condition = condition & (Feedback.actor_id == agent_id)
    await session.execute(update(Feedback).where(condition).values(dedupe_key=None))


async def _move_activity_refs(session: AsyncSession, source_org: str, target_org: str) -> None:
    """Index rows follow their events (which have already moved)."""
    refs: Table = ActivityRef.__table__  # type: ignore[assignment]
    moved_events = select(ActivityEvent.id).where(ActivityEvent.organization_id == target_org)
    await session.execute(
        update(refs)
        .where(refs.c.organization_id == source_org, refs.c.event_id.in_(moved_events))
        .values(organization_id=target_org)
    )
