"""The gallery: an organization's images as thumbnails, each opening to the full image and its job.

Pages and image bytes are read through the assets and jobs services with the
signed-in human's organization, exactly as the API reads them for an agent's
token, so another organization's asset id is the same 404 as a missing one.
Image bytes are served from here (session cookie, never a token in a URL).
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from image_skill.contract.errors import ImageSkillError
from image_skill.service.assets import thumbnails
from image_skill.service.assets.media import media_chunks
from image_skill.service.assets.service import ASSET_KINDS, asset_page, owned_asset
from image_skill.service.console import pages, repository
from image_skill.service.console.access import ImageViewer, SignedIn
from image_skill.service.console.views import job_row
from image_skill.service.db.engine import session_scope
from image_skill.service.guarded_route import GuardedRoute
from image_skill.service.jobs.service import owned_job

router = APIRouter(route_class=GuardedRoute, include_in_schema=False)

PAGE_SIZE = 24
_IMAGE_HEADERS = {
    "cache-control": "private, max-age=3600",
    "x-content-type-options": "nosniff",
    "content-security-policy": "default-src 'none'; sandbox",
}


@router.get("/console/gallery", response_class=HTMLResponse)
async def gallery(
    request: Request,
    viewer: SignedIn,
    agent: str | None = None,
    kind: str | None = None,
    cursor: str | None = None,
) -> Response:
    """A page of the organization's images, newest first, filtered by agent and kind."""
    org = viewer.organization.id
    try:
        async with session_scope(request.app.state.engine, write=False) as session:
            agents = await repository.agents(session, org)
            found = await asset_page(
                session,
                org,
                limit=PAGE_SIZE,
                cursor=cursor or None,
                kind=kind or None,
                actor_id=agent or None,
            )
    except ImageSkillError as error:
        return pages.error_page(error, viewer)
    names = {a.id: a.name for a in agents}
    next_query = None
    if found.next_cursor:
        next_query = _query(agent=agent, kind=kind, cursor=found.next_cursor)
    return pages.page(
        "gallery.html",
        viewer=viewer,
        here="gallery",
        assets=found.assets,
        names=names,
        agents=agents,
        kinds=ASSET_KINDS,
        agent=agent or "",
        kind=kind or "",
        next_query=next_query,
    )


@router.get("/console/assets/{asset_id}", response_class=HTMLResponse)
async def asset_detail(asset_id: str, request: Request, viewer: SignedIn) -> Response:
    """One image at full size, with the job that made it."""
    org = viewer.organization.id
    try:
        async with session_scope(request.app.state.engine, write=False) as session:
            asset = await owned_asset(session, org, asset_id)
            job = (await owned_job(session, org, asset.job_id))[0] if asset.job_id else None
            agents = {a.id: a.name for a in await repository.agents(session, org)}
    except ImageSkillError as error:
        return pages.error_page(error, viewer)
    return pages.page(
        "asset.html",
        viewer=viewer,
        here="gallery",
        asset=asset,
        agent_name=agents.get(asset.actor_id, "(not an agent)"),
        job=job_row(job, agents) if job else None,
    )


@router.get("/console/assets/{asset_id}/thumbnail")
async def asset_thumbnail(asset_id: str, request: Request, viewer: ImageViewer) -> Response:
    """The asset's small WebP (made now if the asset predates thumbnails)."""
    try:
        async with session_scope(request.app.state.engine, write=False) as session:
            asset = await owned_asset(session, viewer.organization.id, asset_id)
    except ImageSkillError as error:
        return pages.error_page(error, viewer)
    try:
        data = await thumbnails.thumbnail_of(request.app.state.store, asset)
    except thumbnails.ThumbnailFailed:
        return pages.message(503, "No thumbnail", "This image cannot be shown right now.", viewer)
    return Response(data, media_type=thumbnails.MEDIA_TYPE, headers=_IMAGE_HEADERS)


@router.get("/console/assets/{asset_id}/image")
async def asset_image(asset_id: str, request: Request, viewer: ImageViewer) -> Response:
    """The full image bytes."""
    try:
        async with session_scope(request.app.state.engine, write=False) as session:
            asset = await owned_asset(session, viewer.organization.id, asset_id)
        chunks = await media_chunks(request.app.state.store, asset)
    except ImageSkillError as error:
        return pages.error_page(error, viewer)
    headers = {**_IMAGE_HEADERS, "content-length": str(asset.content_length)}
    return StreamingResponse(chunks, media_type=asset.mime_type, headers=headers)


def _query(**values: str | None) -> str:
    return urlencode({name: value for name, value in values.items() if value})
