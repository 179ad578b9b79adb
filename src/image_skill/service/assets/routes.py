"""Asset metadata (``/v1/assets/{id}``, organization-scoped) and media (``/a/{id}.{ext}``,
capability URL: the unguessable id is the permission)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from image_skill.service.assets import service
from image_skill.service.assets.schemas import AssetUrls, asset_view
from image_skill.service.deps import AppSettings, CurrentPrincipal, Session
from image_skill.service.guarded_route import GuardedRoute
from image_skill.service.id_params import AssetId
from image_skill.service.openapi_errors import error_responses
from image_skill.service.responses import envelope_response

router = APIRouter(route_class=GuardedRoute, responses=error_responses(401, 404))


@router.get("/v1/assets/{asset_id}", name="image-skill assets show")
async def show_asset(
    asset_id: AssetId,
    request: Request,
    principal: CurrentPrincipal,
    session: Session,
    settings: AppSettings,
) -> JSONResponse:
    """Metadata of an owned asset."""
    asset = await service.owned_asset(session, principal.organization_id, asset_id)
    urls = AssetUrls(settings, request.app.state.store, str(request.base_url))
    data = {
        "request": {"reference": asset_id, "reference_type": "asset_id"},
        "asset": asset_view(asset, urls),
    }
    return envelope_response(request, data)


# Media URLs are capability URLs for browsers and downloaders, not API calls: they
# stay out of the OpenAPI schema (one route serving GET and HEAD would also give
# two operations the same id there).
@router.api_route(
    "/a/{filename}", methods=["GET", "HEAD"], name="image-skill media", include_in_schema=False
)
async def media(filename: str, request: Request, session: Session) -> Response:
    """The asset bytes with type, length, a strong ETag and immutable caching."""
    asset = await service.media_asset(session, filename)
    etag = f'"{asset.sha256}"'
    headers = {
        "etag": etag,
        "cache-control": "public, max-age=31536000, immutable",
        "x-content-type-options": "nosniff",
        "content-disposition": f'inline; filename="{asset.id}.{asset.extension}"',
    }
    if _etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    if request.method == "HEAD":
        headers["content-length"] = str(asset.content_length)
        return Response(status_code=200, headers=headers, media_type=asset.mime_type)
    data = await service.media_bytes(request.app.state.store, asset)
    return Response(content=data, media_type=asset.mime_type, headers=headers)


def _etag_matches(header: str | None, etag: str) -> bool:
    """RFC 9110 If-None-Match: ``*`` or a list of tags, compared weakly."""
    if not header:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in tags or etag in tags
