"""Who may fetch an asset's bytes by media URL, and what the response needs to know.

A request for ``/a/<asset_id>.<ext>`` is answered when its ``sig`` is the
media name's signature (signing.py), or else when it carries a bearer token of
the organization that owns the asset (in embedded mode a token-less call is the
machine's owner). Anything else, a missing asset included, is the same
NOT_FOUND: no answer tells a stranger that an id exists.

Media URLs are fetched far more often than anything else, so the facts a
response needs (type, length, hash, storage key, owner) are kept per app in a
bounded in-memory cache once a request has been allowed to see them: an asset
row is written once and never changed or deleted, so a cached fact can never
be stale. The cache grants nothing by itself: a signed request still has its
signature checked every time (an HMAC, no I/O), and a bearer request is still
authenticated against the database every time (a token can be revoked), so a
signed hit is the only request that skips the database. (Should assets ever
become deletable, the deletion must evict its entry here.)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from starlette.datastructures import State

from image_skill.contract.errors import ErrorCode, ImageSkillError, not_found
from image_skill.service.assets import repository
from image_skill.service.assets.signing import signature_matches, signing_key
from image_skill.service.db.engine import session_scope
from image_skill.service.db.models import Asset
from image_skill.service.identity import repository as identity_repository
from image_skill.service.identity.service import authenticate
from image_skill.service.settings import Settings
from image_skill.service.storage.base import AssetStore, StoreError

# About 600 bytes an entry (measured with tracemalloc): 10,000 entries stay near 6 MB.
FACTS_CACHE_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class MediaFacts:
    """What serving an asset's bytes needs, copied from its (immutable) row."""

    asset_id: str
    organization_id: str
    extension: str
    mime_type: str
    content_length: int
    sha256: str
    storage_key: str

    @classmethod
    def of(cls, asset: Asset) -> MediaFacts:
        """The facts of an asset row."""
        return cls(
            asset_id=asset.id,
            organization_id=asset.organization_id,
            extension=asset.extension,
            mime_type=asset.mime_type,
            content_length=asset.content_length,
            sha256=asset.sha256,
            storage_key=asset.storage_key,
        )


class FactsCache:
    """A bounded least-recently-used map of asset id to ``MediaFacts``."""

    def __init__(self, capacity: int = FACTS_CACHE_ENTRIES) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[str, MediaFacts] = OrderedDict()

    def get(self, asset_id: str) -> MediaFacts | None:
        """The cached facts of ``asset_id``, if any (and mark them recently used)."""
        facts = self._entries.get(asset_id)
        if facts is not None:
            self._entries.move_to_end(asset_id)
        return facts

    def put(self, facts: MediaFacts) -> None:
        """Remember ``facts``, forgetting the least recently used entry when full."""
        self._entries[facts.asset_id] = facts
        self._entries.move_to_end(facts.asset_id)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


def facts_cache(state: State) -> FactsCache:
    """The app's media facts cache (made on first use, one per app)."""
    cache: FactsCache | None = getattr(state, "media_facts", None)
    if cache is None:
        cache = FactsCache()
        state.media_facts = cache
    return cache


def _missing() -> ImageSkillError:
    # The one answer for missing, foreign and unsigned alike.
    return not_found("No such asset.")


async def media_facts(
    engine: AsyncEngine,
    cache: FactsCache,
    settings: Settings,
    filename: str,
    *,
    sig: str | None,
    bearer: str | None,
) -> MediaFacts:
    """The facts of the asset ``<asset_id>.<ext>`` names if this request may read it.

    NOT_FOUND otherwise. Opens a read-only database session only when the
    request is not a correctly signed one for an asset already in ``cache``.
    """
    asset_id, _, extension = filename.rpartition(".")
    if not asset_id:
        raise _missing()
    facts: MediaFacts | None
    if signature_matches(signing_key(settings), asset_id, extension, sig):
        facts = cache.get(asset_id)
        if facts is None:
            async with session_scope(engine, write=False) as session:
                asset = await repository.by_media_name(session, asset_id, extension)
            facts = MediaFacts.of(asset) if asset is not None else None
    else:
        async with session_scope(engine, write=False) as session:
            facts = await _owned_facts(session, settings, asset_id, bearer)
    if facts is None or facts.extension != extension:
        raise _missing()
    cache.put(facts)
    return facts


async def _owned_facts(
    session: AsyncSession, settings: Settings, asset_id: str, bearer: str | None
) -> MediaFacts | None:
    """The asset's facts when the caller's organization owns it (checked every time)."""
    organization_id = await _caller_organization(session, settings, bearer)
    if organization_id is None:
        return None
    asset = await repository.owned(session, organization_id, asset_id)
    return MediaFacts.of(asset) if asset is not None else None


async def _caller_organization(
    session: AsyncSession, settings: Settings, bearer: str | None
) -> str | None:
    """The organization of the bearer token (an invalid one counts as none)."""
    if bearer is not None:
        try:
            principal = await authenticate(session, bearer, pepper=settings.token_pepper)
        except ImageSkillError:
            return None
        return principal.organization_id
    if settings.embedded:
        owner = await identity_repository.local_owner(session)
        return owner.organization_id if owner is not None else None
    return None


def unavailable() -> ImageSkillError:
    """The answer when the store cannot hand over an asset's bytes right now."""
    return ImageSkillError(
        ErrorCode.ASSET_DOWNLOAD_FAILED,
        "The asset bytes are temporarily unavailable.",
        retryable=True,
    )


async def media_chunks(store: AssetStore, asset: Asset) -> AsyncIterator[bytes]:
    """The stored bytes, opened now (ASSET_DOWNLOAD_FAILED if the store fails), then streamed.

    The console's image view streams through this; ``/a/`` uses assets/delivery.py.
    """
    try:
        return await store.open(asset.storage_key)
    except StoreError as exc:
        raise unavailable() from exc


async def presigned_location(store: AssetStore, facts: MediaFacts, seconds: int) -> str | None:
    """Where the client can fetch the bytes itself for ``seconds``; None if the store can't say."""
    try:
        return await store.presigned_url(facts.storage_key, seconds)
    except StoreError as exc:
        raise unavailable() from exc
