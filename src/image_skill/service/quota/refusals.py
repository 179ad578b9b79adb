"""Refused creative attempts, kept where an agent can list them.

A create or edit refused for its budget, the daily cap or the balance used to
leave no trace. The activity ledger's event types are a closed, documented
registry (CONTRACT.md), so a refusal is not a new event type: it is kept as a
job that failed before it started (status ``failed``, the refusal's error code,
no credits, never started), with the registry's ``job.completed`` event at
status ``refused``. ``jobs list --status failed``, ``jobs show``, ``activity
list`` and ``usage quota`` (``refusals``) all show it. It is written in its own
short transaction after the refusal (the admitting one rolled back), and at
most ``KEPT_PER_DAY`` per agent per UTC day, so a client looping on a refusal
cannot grow the tables without bound. Failing to record never changes the
answer: the refusal is still the error the caller gets.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError

from image_skill.contract.errors import ImageSkillError
from image_skill.contract.ids import utc_now
from image_skill.service.activity import creative_events
from image_skill.service.creative.accounting import lock_account
from image_skill.service.creative.admission import new_job
from image_skill.service.creative.plan import Plan
from image_skill.service.db.engine import session_scope
from image_skill.service.identity.principal import Principal
from image_skill.service.quota.repository import REFUSAL_CODES, refused_since
from image_skill.service.quota.service import utc_day_bounds
from image_skill.service.runtime import Runtime

log = logging.getLogger("image_skill.quota")

KEPT_PER_DAY = 20


async def record_refusal(
    runtime: Runtime, principal: Principal, plan: Plan, trace_id: str, error: ImageSkillError
) -> str | None:
    """Keep a refused attempt as a never-started failed job; its id (also put in the
    error's ``details.refused_job_id``), or None when not kept."""
    if error.code not in REFUSAL_CODES:
        return None
    now = utc_now()
    job = new_job(
        plan,
        principal,
        trace_id,
        now,
        status="failed",
        credits_reserved=0,
        error_code=error.code,
        error_message=error.message[:500],
        error_details=error.to_error(),
        completed_at=now,
    )
    try:
        async with session_scope(runtime.engine, write=True) as session:
            # Counted and written under the account's lock, so a burst keeps no more.
            await lock_account(session, principal.actor_id)
            day_start = utc_day_bounds(now)[0]
            if await refused_since(session, principal.actor_id, day_start) >= KEPT_PER_DAY:
                return None
            session.add(job)
            await session.flush()
            await creative_events.job_refused(session, job)
    except SQLAlchemyError as exc:  # the refusal stands; only its record is lost
        log.warning("could not record a refused attempt (%s)", type(exc).__name__)
        return None
    error.details = {**(error.details or {}), "refused_job_id": job.id}
    return job.id
