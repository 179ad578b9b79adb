"""The console's secrets: sign-in link tokens, session tokens and each session's CSRF token.

All three are random (or derived from a random value with the server's pepper),
and only keyed hashes of the first two are stored. Each kind is hashed under its
own label, so a value of one kind can never pass as another (a claim link is
not a sign-in link, a sign-in link is not a session).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

# secrets.token_urlsafe(32) gives 43 characters; accept a little slack, nothing else.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,64}")


def new_secret() -> str:
    """A fresh 256-bit secret, URL-safe."""
    return secrets.token_urlsafe(32)


def is_well_formed(value: str) -> bool:
    """True if ``value`` could be a console secret (checked before any lookup)."""
    return _TOKEN.fullmatch(value) is not None


def hash_link(token: str, pepper: str) -> str:
    """The stored form of a sign-in link token."""
    return _keyed(pepper, b"console-sign-in:", token)


def hash_session(token: str, pepper: str) -> str:
    """The stored form of a session cookie's token."""
    return _keyed(pepper, b"console-session:", token)


def csrf_token(session_token: str, pepper: str) -> str:
    """The session's CSRF token: derived, so nothing more is stored, and useless elsewhere."""
    return _keyed(pepper, b"console-csrf:", session_token)


def same(expected: str, presented: str) -> bool:
    """Constant-time equality of two tokens."""
    return hmac.compare_digest(expected.encode(), presented.encode())


def _keyed(pepper: str, label: bytes, value: str) -> str:
    return hmac.new(pepper.encode(), label + value.encode(), hashlib.sha256).hexdigest()
