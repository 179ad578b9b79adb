"""Claim link tokens: random, shown only in the email, stored as a keyed hash."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from image_skill.service.settings import Settings

# secrets.token_urlsafe(32) gives 43 characters; accept a little slack, nothing else.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,64}")
DEFAULT_LOCAL_BASE = "http://127.0.0.1:8787"


def new_link_token() -> str:
    """A fresh one-time link token (256 random bits)."""
    return secrets.token_urlsafe(32)


def hash_link_token(token: str, pepper: str) -> str:
    """The stored form of a link token."""
    return hmac.new(pepper.encode(), b"claim-link:" + token.encode(), hashlib.sha256).hexdigest()


def is_well_formed(token: str) -> bool:
    """True if ``token`` could be a link token (checked before any lookup)."""
    return _TOKEN.fullmatch(token) is not None


def link_url(settings: Settings, token: str) -> str:
    """``<public base>/claim/<token>``; without a public base, the local ``serve`` default."""
    base = (settings.public_base_url or DEFAULT_LOCAL_BASE).rstrip("/")
    return f"{base}/claim/{token}"
