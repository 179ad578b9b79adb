"""Read-only pages of an organization's record: its jobs, its activity ledger, its agents' feedback.

Each page reads through the domain's own service (``jobs.service.job_page``,
``activity.service.event_page``) with the signed-in human's organization, so
it shows exactly what the API shows an agent of that organization.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from image_skill.contract.errors import ImageSkillError
from image_skill.contract.ids import is_id_shaped
from image_skill.service.activity.service import event_page
from image_skill.service.console import pages, repository
from image_skill.service.console.access import SignedIn
from image_skill.service.console.views import job_row, when
from image_skill.service.db.engine import session_scope
from image_skill.service.guarded_route import GuardedRoute
from image_skill.service.jobs.schemas import TERMINAL
from image_skill.service.jobs.service import job_page

router = APIRouter(route_class=GuardedRoute, include_in_schema=False)

PAGE_SIZE = 50
FEEDBACK_LIMIT = 100
JOB_STATUSES = ("queued", "running", *TERMINAL)


@router.get("/console/jobs", response_class=HTMLResponse)
async def jobs(
    request: Request, viewer: SignedIn, status: str | None = None, cursor: str | None = None
) -> Response:
    """The organization's jobs, newest first: status, model, agent and cost."""
    org = viewer.organization.id
    if status and status not in JOB_STATUSES:
        status = None
    async with session_scope(request.app.state.engine, write=False) as session:
        names = {a.id: a.name for a in await repository.agents(session, org)}
        found = await job_page(
            session, org, limit=PAGE_SIZE, cursor=_cursor(cursor, "job_"), status=status
        )
    rows = [
        {**job_row(job, names), "assets": [a.id for a in found.assets.get(job.id, [])]}
        for job in found.jobs
    ]
    next_query = None
    if found.next_cursor:
        next_query = urlencode(
            {k: v for k, v in (("status", status), ("cursor", found.next_cursor)) if v}
        )
    return pages.page(
        "jobs.html",
        viewer=viewer,
        here="jobs",
        jobs=rows,
        statuses=JOB_STATUSES,
        chosen_status=status or "",
        next_query=next_query,
    )


@router.get("/console/activity", response_class=HTMLResponse)
async def activity(request: Request, viewer: SignedIn, cursor: str | None = None) -> Response:
    """The organization's activity ledger, newest first."""
    org = viewer.organization.id
    try:
        async with session_scope(request.app.state.engine, write=False) as session:
            names = {a.id: a.name for a in await repository.agents(session, org)}
            found = await event_page(
                session, org, limit=PAGE_SIZE, cursor=cursor or None, subject=None
            )
    except ImageSkillError as error:
        return pages.error_page(error, viewer)
    events = [
        {
            "occurred_at": when(event.occurred_at),
            "type": event.type,
            "summary": event.summary,
            "status": event.status,
            "actor": names.get(
                event.actor_id or "", "you" if event.actor_id == viewer.human.id else ""
            ),
            "subject_id": event.subject_id,
            "credits": (event.cost or {}).get("credits"),
        }
        for event in found.events
    ]
    return pages.page(
        "activity.html",
        viewer=viewer,
        here="activity",
        events=events,
        next_cursor=found.next_cursor,
    )


@router.get("/console/feedback", response_class=HTMLResponse)
async def feedback(request: Request, viewer: SignedIn) -> Response:
    """Feedback the organization's agents left about the service."""
    org = viewer.organization.id
    async with session_scope(request.app.state.engine, write=False) as session:
        names = {a.id: a.name for a in await repository.agents(session, org)}
        rows = await repository.feedback(session, org, FEEDBACK_LIMIT)
    items = [
        {
            "created_at": when(row.created_at),
            "agent": names.get(row.actor_id, ""),
            "type": row.type,
            "severity": row.severity,
            "title": row.title or "",
            "body": row.body or "",
            "state": row.next_state,
            "occurrences": row.occurrences,
        }
        for row in rows
    ]
    return pages.page("feedback.html", viewer=viewer, here="feedback", items=items)


def _cursor(value: str | None, prefix: str) -> str | None:
    """A pagination cursor only if it has the shape of an id of its kind (else the first page)."""
    if value and value.startswith(prefix) and is_id_shaped(value):
        return value
    return None
