"""Request-scoped dependencies: the database session, the caller's identity, media URLs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.contract.errors import auth_required
from image_skill.service.assets.schemas import AssetUrls
from image_skill.service.bearer import parse_bearer
from image_skill.service.db.engine import session_scope
from image_skill.service.identity import repository as identity_repository
from image_skill.service.identity.principal import Principal
from image_skill.service.identity.service import authenticate, owner_principal
from image_skill.service.settings import Settings

_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# Dependencies are ``async def`` even when they do not await: FastAPI runs a plain
# ``def`` dependency on a worker thread, a thread round trip per dependency per request.


async def settings_of(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


async def db_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session committed before the response is sent (or rolled back on error)."""
    write = request.method not in _READ_METHODS
    async with session_scope(request.app.state.engine, write=write) as session:
        yield session


Session = Annotated[AsyncSession, Depends(db_session, scope="function")]
AppSettings = Annotated[Settings, Depends(settings_of)]


async def media_urls(request: Request, settings: AppSettings) -> AssetUrls:
    """Signed media URLs for this request's answers (on the URL it was called on, if unset)."""
    return AssetUrls(settings, request.app.state.store, str(request.base_url))


MediaUrls = Annotated[AssetUrls, Depends(media_urls)]


def bearer_token(request: Request) -> str | None:
    """The raw bearer token of a request, if one was sent."""
    return parse_bearer(request.headers.get("authorization"))


async def optional_principal(request: Request, settings: AppSettings) -> Principal | None:
    """The caller if authenticated; in embedded mode a token-less call is the owner.

    Uses its own short read-only transaction so a writing route never holds
    the write lock while authenticating.
    """
    raw = bearer_token(request)
    principal: Principal | None = None
    async with session_scope(request.app.state.engine, write=False) as session:
        if raw is not None:
            principal = await authenticate(session, raw, pepper=settings.token_pepper)
        elif settings.embedded:
            owner = await identity_repository.local_owner(session)
            principal = owner_principal(owner) if owner is not None else None
    request.state.principal = principal
    return principal


async def require_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    """The authenticated caller, or AUTH_REQUIRED."""
    if principal is None:
        raise auth_required(
            "This call needs an agent token.",
            suggested_command="image-skill signup --agent --human-email EMAIL "
            "--agent-name NAME --save --json",
        )
    return principal


CurrentPrincipal = Annotated[Principal, Depends(require_principal)]
MaybePrincipal = Annotated[Principal | None, Depends(optional_principal)]
