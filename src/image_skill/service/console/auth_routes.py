"""The console's door: its home page, asking for a sign-in link, following it, signing out.

``GET /console/sign-in/{token}`` only shows a button (mail scanners prefetch
links, so opening must change nothing); the POST spends the link and opens a
session. Asking for a link always answers the same page, rate limited per IP
and per address like a claim request, and the email goes out after the answer
is sent, so neither the text nor the timing says whether an account exists.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.background import BackgroundTask

from image_skill.contract.errors import ImageSkillError
from image_skill.service.abuse.limiter import client_ip, enforce
from image_skill.service.claims.routes import mail_backend
from image_skill.service.console import pages
from image_skill.service.console.access import CheckedForm
from image_skill.service.console.message import sign_in_message, sign_in_url
from image_skill.service.console.pages import OptionalViewer
from image_skill.service.console.sessions import (
    LinkUnusable,
    link_is_well_formed,
    open_link,
    sign_in,
    sign_out,
)
from image_skill.service.db.engine import session_scope
from image_skill.service.guarded_route import GuardedRoute
from image_skill.service.identity.service import normalize_email
from image_skill.service.mail import MailBackend, MailDeliveryFailed, MailMessage

router = APIRouter(route_class=GuardedRoute, include_in_schema=False)
log = logging.getLogger("image_skill.service")

_UNUSABLE = (
    "This sign-in link is not valid",
    "It may have been used already, or expired (links work once, for 15 minutes). "
    "Ask for a new one on the console's home page.",
)


@router.get("/console", response_class=HTMLResponse)
async def console_home(request: Request, viewer: OptionalViewer) -> HTMLResponse:
    """What this service is, how an agent starts, and the sign-in form (or the pages)."""
    base = request.app.state.settings.public_base_url or str(request.base_url).rstrip("/")
    return pages.page("home.html", viewer=viewer, base_url=base)


@router.post("/console/sign-in", response_class=HTMLResponse)
async def ask_for_link(request: Request) -> Response:
    """Email a one-time sign-in link if the address belongs to a verified human; the
    answer is the same either way."""
    if pages.cross_site(request):
        return pages.cross_site_refusal()
    form = await pages.read_form(request)
    try:
        email = normalize_email(form.get("email", ""))
    except ImageSkillError:
        return pages.message(400, "Check the address", "Enter the email address you use.")
    try:
        await enforce(request, "rate_limit_claim_per_ip", "console-sign-in:" + client_ip(request))
        await enforce(request, "rate_limit_claim_per_email", "console-sign-in:" + email)
    except ImageSkillError as error:
        return pages.error_page(error, None)
    settings = request.app.state.settings
    async with session_scope(request.app.state.engine, write=True) as session:
        opened = await open_link(session, email, pepper=settings.token_pepper)
    answer = pages.page("sign_in_sent.html", viewer=None)
    if opened is not None:
        _human, token = opened
        message = sign_in_message(email, sign_in_url(settings, token))
        answer.background = BackgroundTask(_send, mail_backend(request), message)
    return answer


@router.get("/console/sign-in/{token}", response_class=HTMLResponse)
async def link_page(token: str) -> HTMLResponse:
    """The page an emailed link opens: a Sign in button (opening it spends nothing)."""
    if not link_is_well_formed(token):
        return pages.message(404, *_UNUSABLE)
    return pages.page("sign_in_confirm.html", viewer=None, token=token)


@router.post("/console/sign-in/{token}", response_class=HTMLResponse)
async def follow_link(token: str, request: Request) -> Response:
    """Spend the link, open a session (cookie) and go to the gallery."""
    if pages.cross_site(request):
        return pages.cross_site_refusal()
    form = await pages.read_form(request)
    if form.get("token") != token:
        return pages.message(400, "This form does not match its link", _UNUSABLE[1])
    pepper = request.app.state.settings.token_pepper
    try:
        async with session_scope(request.app.state.engine, write=True) as session:
            _viewer, session_token = await sign_in(session, token, pepper=pepper)
    except LinkUnusable:
        return pages.message(410, *_UNUSABLE)
    response = pages.go("/console/gallery")
    pages.set_session_cookie(response, request, session_token)
    return response


@router.post("/console/sign-out", response_class=HTMLResponse)
async def leave(request: Request, form: CheckedForm) -> Response:
    """Revoke the session in the database and forget the cookie."""
    async with session_scope(request.app.state.engine, write=True) as session:
        await sign_out(session, form.viewer)
    response = pages.message(200, "Signed out", "Your console session has ended.")
    pages.clear_session_cookie(response, request)
    return response


async def _send(mailer: MailBackend, message: MailMessage) -> None:
    try:
        await mailer.send(message)
    except MailDeliveryFailed as exc:
        cause = type(exc.__cause__).__name__ if exc.__cause__ else "none"
        log.warning("console sign-in mail not sent: backend=%s cause=%s", mailer.name, cause)
