"""Pages where the human steers: credits (balance, spending chart, buying) and agents
(claim state, last use, revoke or rotate a token).

Every POST here carries the session's CSRF token, checked before anything else;
every agent id is looked up within the signed-in human's organization.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from image_skill.contract.errors import ImageSkillError
from image_skill.service.console import pages
from image_skill.service.console.access import CheckedForm, SignedIn
from image_skill.service.console.steering import (
    agent_rows,
    credits_overview,
    new_form_key,
    revoke_agent,
    rotate_agent,
    start_checkout,
)
from image_skill.service.console.views import CHART_HEIGHT, CHART_WIDTH, bars
from image_skill.service.credits.packs import PACKS
from image_skill.service.db.engine import session_scope
from image_skill.service.guarded_route import GuardedRoute
from image_skill.service.responses import trace_id_of

router = APIRouter(route_class=GuardedRoute, include_in_schema=False)


@router.get("/console/credits", response_class=HTMLResponse)
async def credits(request: Request, viewer: SignedIn) -> Response:
    """Balance, spend per day and per agent, and buying (when Stripe is configured)."""
    org = viewer.organization.id
    async with session_scope(request.app.state.engine, write=False) as session:
        overview = await credits_overview(session, org)
        agents = await agent_rows(session, org)
    return pages.page(
        "credits.html",
        viewer=viewer,
        here="credits",
        overview=overview,
        day_bars=bars(overview.spend_by_day),
        agent_bars=bars(overview.spend_by_agent),
        chart_width=CHART_WIDTH,
        chart_height=CHART_HEIGHT,
        agents=agents,
        packs=list(PACKS.values()),
        can_buy=bool(request.app.state.settings.stripe_secret_key),
        buy_key=new_form_key(),
    )


@router.post("/console/credits/buy", response_class=HTMLResponse)
async def buy(request: Request, checked: CheckedForm) -> Response:
    """Start a Stripe Checkout for a pack, for one of the organization's agents."""
    viewer, form = checked.viewer, checked.fields
    settings = request.app.state.settings
    if not settings.stripe_secret_key:
        return pages.message(409, "Buying is not set up", "This service takes no payments.", viewer)
    try:
        url = await start_checkout(
            request.app.state.engine,
            settings,
            viewer.organization.id,
            form.get("agent_id", ""),
            form.get("pack_id", ""),
            form_key=form.get("buy_key", ""),
            trace_id=trace_id_of(request),
        )
    except ImageSkillError as error:
        return pages.error_page(error, viewer)
    return pages.page("checkout.html", viewer=viewer, here="credits", checkout_url=url)


@router.get("/console/agents", response_class=HTMLResponse)
async def agents(request: Request, viewer: SignedIn) -> Response:
    """The organization's agents and what can be done to their tokens."""
    async with session_scope(request.app.state.engine, write=False) as session:
        rows = await agent_rows(session, viewer.organization.id)
    return pages.page("agents.html", viewer=viewer, here="agents", agents=rows)


@router.post("/console/agents/{agent_id}/revoke", response_class=HTMLResponse)
async def revoke(agent_id: str, request: Request, checked: CheckedForm) -> Response:
    """Revoke every token of the agent: its next call is refused."""
    viewer = checked.viewer
    try:
        async with session_scope(request.app.state.engine, write=True) as session:
            agent = await revoke_agent(session, viewer.organization.id, agent_id)
    except ImageSkillError as error:
        return pages.error_page(error, viewer)
    text = f"{agent.name}'s tokens no longer work. Rotate to give it a new one."
    return pages.message(200, "Token revoked", text, viewer)


@router.post("/console/agents/{agent_id}/rotate", response_class=HTMLResponse)
async def rotate(agent_id: str, request: Request, checked: CheckedForm) -> Response:
    """Replace the agent's tokens with a new one, shown on this page only."""
    viewer = checked.viewer
    pepper = request.app.state.settings.token_pepper
    try:
        async with session_scope(request.app.state.engine, write=True) as session:
            agent, token = await rotate_agent(
                session, viewer.organization.id, agent_id, pepper=pepper
            )
    except ImageSkillError as error:
        return pages.error_page(error, viewer)
    return pages.page("rotated.html", viewer=viewer, here="agents", agent=agent, token=token)
