"""The one reader of ``Authorization: Bearer <token>`` headers.

Authentication (``deps``) and the rate limiter (``abuse.middleware``) both need
the raw token; reading it in one place keeps them agreeing on what a token is.
"""

from __future__ import annotations

from image_skill.contract.errors import ErrorCode, ImageSkillError


def parse_bearer(header: str | None) -> str | None:
    """The token of a Bearer header, or None when no header was sent.

    Any other shape (another scheme, an empty token) is AUTH_INVALID.
    """
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ImageSkillError(
            ErrorCode.AUTH_INVALID, "The Authorization header must be 'Bearer <token>'."
        )
    return value.strip()
