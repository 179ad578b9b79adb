"""Asset metadata (``/v1/assets`` and ``/v1/assets/{id}``, organization-scoped) and media
(``/a/{id}.{ext}?sig=...``: the signed URL is the permission, see assets/media.py)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from image_skill.service.assets import delivery, service
from image_skill.service.assets import media as media_access
from image_skill.service.assets.schemas import AssetPage, AssetShown, asset_view
from image_skill.service.deps import CurrentPrincipal, MediaUrls, Session, bearer_token
from image_skill.service.envelopes import answers
from image_skill.service.guarded_route import GuardedRoute
from image_skill.service.id_params import AssetId, OptionalIdQuery, PageLimit
from image_skill.service.openapi_errors import error_responses
from image_skill.service.responses import envelope_response
from image_skill.service.settings import Settings

router = APIRouter(route_class=GuardedRoute, responses=error_responses(401, 404))
Kind = Literal["generated", "edited", "uploaded"]


@router.get("/v1/assets", name="image-skill assets list", **answers(AssetPage))
async def list_assets(
    request: Request,
    principal: CurrentPrincipal,
    session: Session,
    urls: MediaUrls,
    limit: PageLimit = 20,
    cursor: OptionalIdQuery = None,
    kind: Kind | None = None,
    job: OptionalIdQuery = None,
) -> JSONResponse:
    """The organization's assets, newest first, ``limit`` per page (pass ``next_cursor``
    back for the next); ``kind`` (made by a create, an edit, or uploaded) and ``job``
    narrow the list."""
    found = await service.asset_page(
        session, principal.organization_id, limit=limit, cursor=cursor, kind=kind, job_id=job
    )
    stand_in = await service.stand_in_of(session, found.assets, request.app.state.runtime.models)
    views = []
    for asset in found.assets:
        view = asset_view(asset, urls)
        if stand_in[asset.id] is not None:
            view["stand_in"] = stand_in[asset.id]
        views.append(view)
    return envelope_response(request, {"assets": views, "next_cursor": found.next_cursor})


@router.get("/v1/assets/{asset_id}", name="image-skill assets show", **answers(AssetShown))
async def show_asset(
    asset_id: AssetId,
    request: Request,
    principal: CurrentPrincipal,
    session: Session,
    urls: MediaUrls,
) -> JSONResponse:
    """Metadata of an owned asset."""
    asset = await service.owned_asset(session, principal.organization_id, asset_id)
    view = asset_view(asset, urls)
    stand_in = await service.made_by_stand_in(session, asset, request.app.state.runtime.models)
    if stand_in is not None:
        view["stand_in"] = stand_in
    data = {"request": {"reference": asset_id, "reference_type": "asset_id"}, "asset": view}
    return envelope_response(request, data)


# Media URLs are capability URLs for browsers and downloaders, not API calls: they
# stay out of the OpenAPI schema (one route serving GET and HEAD would also give
# two operations the same id there). The route takes no dependencies: FastAPI runs
# a plain-function one on a worker thread and a session one per request, and a
# signed download of a cached asset needs neither (assets/media.py).
@router.api_route(
    "/a/{filename}", methods=["GET", "HEAD"], name="image-skill media", include_in_schema=False
)
async def media(filename: str, request: Request, sig: str | None = None) -> Response:
    """The asset bytes with type, length, a strong ETag and immutable caching.

    The URL's ``sig`` is the permission (or the owning organization's bearer
    token); with ``IMAGE_SKILL_MEDIA_DELIVERY=redirect`` a GET is sent on to a
    short-lived presigned URL of the bucket instead.
    """
    state = request.app.state
    settings: Settings = state.settings
    facts = await media_access.media_facts(
        state.engine,
        media_access.facts_cache(state),
        settings,
        filename,
        sig=sig,
        bearer=bearer_token(request),
    )
    etag = f'"{facts.sha256}"'
    headers = {
        "etag": etag,
        "cache-control": "public, max-age=31536000, immutable",
        "x-content-type-options": "nosniff",
        "content-disposition": f'inline; filename="{facts.asset_id}.{facts.extension}"',
    }
    if _etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    headers["content-length"] = str(facts.content_length)
    if request.method == "HEAD":
        return Response(status_code=200, headers=headers, media_type=facts.mime_type)
    store = state.store
    if settings.media_delivery == "redirect":
        location = await media_access.presigned_location(
            store, facts, settings.media_presign_seconds
        )
        if location is not None:
            # The presigned URL expires: neither it nor this answer may be cached.
            return RedirectResponse(
                location, status_code=302, headers={"cache-control": "no-store"}
            )
    return await delivery.stored_bytes(store, facts, headers)


def _etag_matches(header: str | None, etag: str) -> bool:
    """RFC 9110 If-None-Match: ``*`` or a list of tags, compared weakly."""
    if not header:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in tags or etag in tags
