"""Media URLs that carry their own permission: ``/a/<asset_id>.<ext>?sig=<token>``.

Asset ids are cited in activity, feedback and support threads, so an id alone
must not fetch the bytes. The URL the owner is given instead carries a token,
an HMAC of the media name under the service's media signing key. It is
deterministic (``assets show`` re-issues the same URL, so caches and links stay
valid), long-lived (it lasts as long as the key), unguessable (128 bits) and
checked in constant time. Downloaders such as the 0.1.0 client keep working:
they fetch ``asset.url`` as given, without a token.

The key is ``IMAGE_SKILL_MEDIA_SIGNING_KEY``; unset, it is derived from the
token pepper, which every API process of a deployment already shares (a key
made per machine would make one process refuse another's URLs) and which
production refuses to start without. Changing the key invalidates every media
URL handed out; owners get new ones from ``assets show``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from image_skill.service.settings import Settings

_DERIVATION_LABEL = b"image-skill media url signing key v1"
_SIGNATURE_BYTES = 16


def signing_key(settings: Settings) -> bytes:
    """The media signing key: the setting, else derived from the token pepper."""
    if settings.media_signing_key is not None:
        return settings.media_signing_key.get_secret_value().encode("utf-8")
    return hmac.new(
        settings.token_pepper.encode("utf-8"), _DERIVATION_LABEL, hashlib.sha256
    ).digest()


def media_signature(key: bytes, asset_id: str, extension: str) -> str:
    """The ``sig`` of the media name ``<asset_id>.<extension>`` (22 URL-safe characters)."""
    mac = hmac.new(key, f"{asset_id}.{extension}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:_SIGNATURE_BYTES]).rstrip(b"=").decode("ascii")


def signature_matches(key: bytes, asset_id: str, extension: str, presented: str | None) -> bool:
    """True when ``presented`` is the media name's signature (compared in constant time)."""
    if not presented:
        return False
    expected = media_signature(key, asset_id, extension).encode("ascii")
    return hmac.compare_digest(expected, presented.encode("utf-8", "surrogateescape"))
