"""The page a human opens from the claim email.

``GET /claim/{token}`` only shows what is asked (mail scanners prefetch links,
so opening must change nothing); ``POST /claim/{token}`` confirms. The secret
token in the path is the proof against cross-site posts, and the form repeats
it. Every answer is HTML with a strict Content-Security-Policy, is never
framed, cached or sent as a referrer, and a bad link is a clear page with
404/410, never a 500.
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from image_skill.contract.ids import iso
from image_skill.service.claims.service import LinkProblem, confirm_link, link_claim
from image_skill.service.db.engine import session_scope
from image_skill.service.guarded_route import GuardedRoute
from image_skill.service.identity.grants import grants_for
from image_skill.service.identity.schemas import mask_email
from image_skill.service.openapi_errors import error_responses
from image_skill.service.responses import trace_id_of

if TYPE_CHECKING:
    from jinja2 import Environment

router = APIRouter(route_class=GuardedRoute, tags=["claim pages"], responses=error_responses(404))

_MAX_FORM_BYTES = 4096
_HTML = {"text/html": {"schema": {"type": "string"}}}
_PAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The page (HTML).", "content": _HTML},
    400: {
        "description": "The form did not repeat the link's token (HTML), or the link itself "
        "is malformed (the JSON error envelope, like every route).",
        "content": {
            **_HTML,
            "application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}},
        },
    },
    404: {"description": "Not a valid claim link (HTML).", "content": _HTML},
    410: {"description": "Used, replaced or expired link (HTML).", "content": _HTML},
}
_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {"token": {"type": "string"}},
                    "required": ["token"],
                }
            }
        },
    }
}


@lru_cache(maxsize=1)
def _templates() -> Environment:
    # Imported with the first page (a server warms it up at start).
    from jinja2 import ChoiceLoader, Environment, PackageLoader

    return Environment(
        # The console's templates supply the shared layout (base.html) and its CSS.
        loader=ChoiceLoader(
            [
                PackageLoader("image_skill.service.claims", "templates"),
                PackageLoader("image_skill.service.console", "templates"),
            ]
        ),
        autoescape=True,
        auto_reload=False,
    )


def _page(template: str, status: int, **context: Any) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    html = _templates().get_template(template).render(nonce=nonce, **context)
    headers = {
        "content-security-policy": (
            f"default-src 'none'; style-src 'nonce-{nonce}'; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'"
        ),
        "x-frame-options": "DENY",
        "referrer-policy": "no-referrer",
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
    }
    return HTMLResponse(html, status_code=status, headers=headers)


def _problem(problem: LinkProblem) -> HTMLResponse:
    return _page("message.html", problem.status, title=problem.title, message=problem.message)


@router.get("/claim/{token}", response_class=HTMLResponse, responses=_PAGE_RESPONSES)
async def claim_page(token: str, request: Request) -> HTMLResponse:
    """Show which agent asks to be claimed and what confirming grants (changes nothing)."""
    settings = request.app.state.settings
    try:
        async with session_scope(request.app.state.engine, write=False) as session:
            claim, agent = await link_claim(session, token, pepper=settings.token_pepper)
    except LinkProblem as problem:
        return _problem(problem)
    return _page(
        "confirm.html",
        200,
        token=token,
        agent={
            "name": agent.name,
            "runtime": agent.runtime,
            "created_at": iso(agent.created_at),
            "agent_id": agent.id,
        },
        sponsor_email=mask_email(claim.sponsor_email),
        expires_at=iso(claim.expires_at),
        daily_job_cap=settings.daily_job_cap_claimed,
        grants=grants_for("claimed"),
    )


@router.post(
    "/claim/{token}",
    response_class=HTMLResponse,
    responses=_PAGE_RESPONSES,
    openapi_extra=_FORM,
)
async def confirm_claim(token: str, request: Request) -> HTMLResponse:
    """Confirm the claim: the agent becomes claimed and joins the human's organization."""
    settings = request.app.state.settings
    form_token = await _form_token(request)
    try:
        async with session_scope(request.app.state.engine, write=True) as session:
            done = await confirm_link(
                session,
                token,
                form_token,
                pepper=settings.token_pepper,
                trace_id=trace_id_of(request),
            )
    except LinkProblem as problem:
        return _problem(problem)
    return _page(
        "confirmed.html",
        200,
        agent_name=done.agent.name,
        organization_name=done.organization.name,
        email=mask_email(done.human.email),
        daily_job_cap=settings.daily_job_cap_claimed,
    )


async def _form_token(request: Request) -> str:
    """The form's ``token`` field ('' when absent, unreadable or oversized)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_FORM_BYTES:
            return ""
    try:
        fields = parse_qs(body.decode("ascii"), max_num_fields=4)
    except (UnicodeDecodeError, ValueError):
        return ""
    values = fields.get("token") or [""]
    return values[0]
