"""Who may see a console page and send its forms, as dependencies every route declares.

A page for signed-in humans only sends a stranger to the console's home; an
image route answers 401 instead (an ``<img>`` cannot follow a redirect into a
page); a POST is read and its CSRF token checked before the route runs. Each
refusal is a finished page carried by ``PageExit``, which the app answers as
it is, so no route repeats these checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import Response

from image_skill.service.console import pages
from image_skill.service.console.pages import OptionalViewer
from image_skill.service.console.sessions import Viewer


class PageExit(Exception):
    """Ends a console request early with a finished page."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


async def page_exit_response(_request: Request, exc: Exception) -> Response:
    """The app's handler for ``PageExit``: the page it carries."""
    assert isinstance(exc, PageExit)
    return exc.response


async def signed_in(viewer: OptionalViewer) -> Viewer:
    """The signed-in human, else off to the console's home page."""
    if viewer is None:
        raise PageExit(pages.go("/console"))
    return viewer


async def image_viewer(viewer: OptionalViewer) -> Viewer:
    """The signed-in human asking for image bytes, else 401."""
    if viewer is None:
        raise PageExit(pages.message(401, "Sign in first", "This image needs a console session."))
    return viewer


SignedIn = Annotated[Viewer, Depends(signed_in)]
ImageViewer = Annotated[Viewer, Depends(image_viewer)]


@dataclass(frozen=True)
class PostedForm:
    """A signed-in human's form whose CSRF token matched its session."""

    viewer: Viewer
    fields: dict[str, str]


async def posted_form(request: Request, viewer: SignedIn) -> PostedForm:
    """Read the POST's form and refuse it (403 page) without the session's CSRF token."""
    fields = await pages.read_form(request)
    refusal = pages.csrf_refusal(viewer, fields)
    if refusal is not None:
        raise PageExit(refusal)
    return PostedForm(viewer, fields)


CheckedForm = Annotated[PostedForm, Depends(posted_form)]
