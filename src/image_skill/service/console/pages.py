"""Rendering console pages and reading their forms: the HTTP side every console route shares.

Every page is HTML from the package's Jinja2 templates (autoescaped), with a
strict Content-Security-Policy: no script at all, styles only inline under a
per-response nonce, images only from this service. Pages are never framed,
cached or sent as a referrer. Forms are small url-encoded bodies read here with
a hard size bound; every form of a signed-in page carries the session's CSRF
token, and a POST without the right one is refused before it does anything.
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import parse_qs

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from image_skill.contract.errors import ImageSkillError
from image_skill.service.console import secrets as console_secrets
from image_skill.service.console.sessions import SESSION_TTL, Viewer, touch, viewer_of
from image_skill.service.db.engine import session_scope

if TYPE_CHECKING:
    from jinja2 import Environment

COOKIE = "isk_console"
_MAX_FORM_BYTES = 8192
_MAX_FIELDS = 16


@lru_cache(maxsize=1)
def templates() -> Environment:
    """The console's template environment (shared by the claim pages for one look)."""
    # Imported with the first page (a server warms it up at start): the embedded
    # CLI's service never renders one.
    from jinja2 import Environment, PackageLoader

    return Environment(
        loader=PackageLoader("image_skill.service.console", "templates"),
        autoescape=True,
        auto_reload=False,
    )


def security_headers(nonce: str) -> dict[str, str]:
    """The headers of every console page."""
    return {
        "content-security-policy": (
            f"default-src 'none'; style-src 'nonce-{nonce}'; img-src 'self'; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        ),
        "x-frame-options": "DENY",
        "referrer-policy": "no-referrer",
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
    }


def page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """``template`` rendered with ``context`` under the console's headers."""
    nonce = secrets.token_urlsafe(16)
    html = templates().get_template(template).render(nonce=nonce, **context)
    return HTMLResponse(html, status_code=status, headers=security_headers(nonce))


def message(status: int, title: str, text: str, viewer: Viewer | None = None) -> HTMLResponse:
    """A page that only says something (an error, a refusal, a confirmation)."""
    return page("message.html", status, title=title, message=text, viewer=viewer, console_link=True)


def error_page(error: ImageSkillError, viewer: Viewer | None) -> HTMLResponse:
    """An ``ImageSkillError`` as a page with its HTTP status (NOT_FOUND is 404, ...)."""
    title = str(error.code).replace("_", " ").capitalize()
    response = message(error.http_status, title, error.message, viewer)
    wait = (error.recovery or {}).get("retry_after_seconds")
    if isinstance(wait, int):
        response.headers["retry-after"] = str(wait)
    return response


def cross_site(request: Request) -> bool:
    """True for a POST a browser says came from another site: ``Sec-Fetch-Site`` says so,
    or ``Origin`` names another origin (``null``, sent under no-referrer, says nothing)."""
    if request.headers.get("sec-fetch-site") in ("cross-site", "same-site"):
        return True
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return False
    public = request.app.state.settings.public_base_url
    own = {str(request.base_url).rstrip("/"), (public or "").rstrip("/")}
    return origin.rstrip("/") not in own


def cross_site_refusal() -> HTMLResponse:
    """The 403 page for a form posted from another site."""
    return message(403, "Refused", "This form was sent from another site.")


def go(path: str) -> RedirectResponse:
    """303 to another console page (after a POST, or to sign in)."""
    return RedirectResponse(path, status_code=303, headers={"cache-control": "no-store"})


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    """The session cookie: HttpOnly, SameSite=Lax, Secure when the service is on https."""
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(SESSION_TTL.total_seconds()),
        path="/console",
        httponly=True,
        samesite="lax",
        secure=_secure(request),
    )


def clear_session_cookie(response: Response, request: Request) -> None:
    """Tell the browser to forget the session cookie."""
    response.delete_cookie(
        COOKIE, path="/console", httponly=True, samesite="lax", secure=_secure(request)
    )


async def current_viewer(request: Request) -> Viewer | None:
    """The signed-in human of this request, if any (its session's last use recorded)."""
    engine = request.app.state.engine
    pepper = request.app.state.settings.token_pepper
    async with session_scope(engine, write=False) as session:
        viewer = await viewer_of(session, request.cookies.get(COOKIE), pepper=pepper)
    if viewer is not None and viewer.stale:
        async with session_scope(engine, write=True) as session:
            await touch(session, viewer)
    return viewer


OptionalViewer = Annotated[Viewer | None, Depends(current_viewer)]


async def read_form(request: Request) -> dict[str, str]:
    """The url-encoded form of a POST (first value of each field); {} when absent,
    unreadable or over the size bound."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_FORM_BYTES:
            return {}
    try:
        fields = parse_qs(body.decode("utf-8"), max_num_fields=_MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {name: values[0] for name, values in fields.items() if values}


def csrf_refusal(viewer: Viewer, form: dict[str, str]) -> HTMLResponse | None:
    """The 403 page when the form does not carry the session's CSRF token, else None."""
    if console_secrets.same(viewer.csrf, form.get("csrf", "")):
        return None
    return message(
        403,
        "This form has expired",
        "The form was not sent from a page of this console session. Go back, reload the "
        "page and try again.",
        viewer,
    )


def _secure(request: Request) -> bool:
    base = request.app.state.settings.public_base_url or str(request.base_url)
    return str(base).startswith("https://")
