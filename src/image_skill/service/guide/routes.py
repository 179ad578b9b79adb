"""``/``, ``/skill.md``, ``/cli.md`` and ``/llms.txt``: the shipped guide, served as is.

The texts are the files inside the installed package (``image_skill.guide``),
the same ones ``image-skill skill`` prints, so the CLI and the server can never
tell an agent two different stories. None of these needs a token; the home
page is plain HTML with no script and a strict Content-Security-Policy.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse

from image_skill import guide
from image_skill.service.guarded_route import GuardedRoute
from image_skill.service.guide.home import home_page
from image_skill.service.openapi_errors import error_responses

router = APIRouter(route_class=GuardedRoute, tags=["guide"], responses=error_responses())

_HEADERS = {"x-content-type-options": "nosniff", "cache-control": "public, max-age=300"}


def _text_answer(media_type: str, about: str) -> dict[str, Any]:
    return {
        "response_class": PlainTextResponse,
        "responses": {200: {"description": about, "content": {media_type: {"schema": {}}}}},
    }


def _guide(name: str) -> PlainTextResponse:
    media_type = f"{guide.media_type(name)}; charset=utf-8"
    return PlainTextResponse(guide.read(name), media_type=media_type, headers=_HEADERS)


@router.get(
    "/skill.md",
    name="image-skill skill",
    **_text_answer("text/markdown", "The agent guide of this version (Markdown)."),
)
async def skill_md() -> PlainTextResponse:
    """The agent guide: first run, every command with an example, budgets, errors, modes."""
    return _guide("skill")


@router.get(
    "/cli.md",
    name="image-skill docs",
    **_text_answer("text/markdown", "The CLI reference of this version (Markdown)."),
)
async def cli_md() -> PlainTextResponse:
    """Every CLI command and flag, generated from the CLI's command table."""
    return _guide("cli")


@router.get(
    "/llms.txt",
    name="image-skill docs",
    **_text_answer("text/plain", "A short index of the documentation for language models."),
)
async def llms_txt() -> PlainTextResponse:
    """The llms.txt index: links to the guide, the CLI reference and the API docs."""
    return _guide("llms")


@router.get(
    "/",
    name="image-skill docs",
    response_class=HTMLResponse,
    responses={200: {"description": "The home page (HTML).", "content": {"text/html": {}}}},
)
async def home(request: Request) -> HTMLResponse:
    """What this service is, how an agent installs the CLI, and links to the guide and docs."""
    settings = request.app.state.settings
    base = (settings.public_base_url or str(request.base_url)).rstrip("/")
    return home_page(base)
