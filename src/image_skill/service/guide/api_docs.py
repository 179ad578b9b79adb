"""``/docs`` and ``/redoc`` that work offline: the UI assets are served by this service.

FastAPI's own docs pages load Swagger UI and ReDoc from a CDN, so they are blank
on a machine without internet access. The same pages are built here with the
asset URLs pointing at copies bundled in the ``fastapi-offline`` package and
mounted under ``/docs/static``; nothing on the page leaves this service.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from image_skill.service.guarded_route import GuardedRoute

ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"
STATIC_PATH = "/docs/static"
DOCS_PATH = "/docs"
REDOC_PATH = "/redoc"
OAUTH2_REDIRECT_PATH = "/docs/oauth2-redirect"
OPENAPI_PATH = "/openapi.json"
TITLE = "Image Skill - API reference"

router = APIRouter(route_class=GuardedRoute, include_in_schema=False)


@router.get(DOCS_PATH)
async def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI over this service's OpenAPI document, with bundled assets."""
    root = request.scope.get("root_path", "")
    return get_swagger_ui_html(
        openapi_url=f"{root}{OPENAPI_PATH}",
        title=TITLE,
        oauth2_redirect_url=f"{root}{OAUTH2_REDIRECT_PATH}",
        swagger_js_url=f"{root}{STATIC_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{STATIC_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{root}{STATIC_PATH}/favicon.png",
    )


@router.get(OAUTH2_REDIRECT_PATH)
async def swagger_ui_redirect() -> HTMLResponse:
    """Swagger UI's OAuth2 redirect helper page."""
    return get_swagger_ui_oauth2_redirect_html()


@router.get(REDOC_PATH)
async def redoc(request: Request) -> HTMLResponse:
    """ReDoc over this service's OpenAPI document, with the bundled script and no web fonts."""
    root = request.scope.get("root_path", "")
    return get_redoc_html(
        openapi_url=f"{root}{OPENAPI_PATH}",
        title=TITLE,
        redoc_js_url=f"{root}{STATIC_PATH}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{STATIC_PATH}/favicon.png",
        with_google_fonts=False,
    )


def install_api_docs(app: FastAPI) -> None:
    """Serve the docs pages and their bundled assets (the app must be built without them)."""
    if app.docs_url is not None or app.redoc_url is not None:
        raise ValueError("build the app with docs_url=None and redoc_url=None")
    if app.openapi_url != OPENAPI_PATH:
        raise ValueError(f"the docs pages read the OpenAPI document at {OPENAPI_PATH}")
    app.mount(STATIC_PATH, StaticFiles(directory=ASSETS_DIR), name="api-docs-assets")
    app.include_router(router)
