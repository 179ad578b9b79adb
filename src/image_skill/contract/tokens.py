"""Bearer tokens: ``isk_r_`` + 32 random base32 characters + a 6-character checksum.

The checksum lets the service refuse mistyped or truncated tokens without a
database lookup, and lets secret scanners recognise real tokens. Only a keyed
hash (HMAC-SHA256 with the server's pepper) is ever stored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import zlib

TOKEN_PREFIX = "isk_r_"
_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
_BODY_LENGTH = 32
_CHECKSUM_LENGTH = 6
TOKEN_PATTERN = re.compile(rf"^{TOKEN_PREFIX}[a-z2-7]{{{_BODY_LENGTH + _CHECKSUM_LENGTH}}}$")


def _checksum(body: str) -> str:
    value = zlib.crc32(body.encode())
    chars = []
    for _ in range(_CHECKSUM_LENGTH):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(chars)


def generate_token() -> str:
    """A new raw token (160 random bits)."""
    body = "".join(secrets.choice(_ALPHABET) for _ in range(_BODY_LENGTH))
    return f"{TOKEN_PREFIX}{body}{_checksum(body)}"


def is_well_formed(raw: str) -> bool:
    """True if ``raw`` has our shape and a valid checksum."""
    if not TOKEN_PATTERN.match(raw):
        return False
    body = raw[len(TOKEN_PREFIX) : len(TOKEN_PREFIX) + _BODY_LENGTH]
    return hmac.compare_digest(raw[-_CHECKSUM_LENGTH:], _checksum(body))


def hash_token(raw: str, pepper: str) -> str:
    """The stored form of a token."""
    return hmac.new(pepper.encode(), raw.encode(), hashlib.sha256).hexdigest()


def display_prefix(raw: str) -> str:
    """A short non-secret handle such as ``isk_r_abcd…`` for listings."""
    return raw[: len(TOKEN_PREFIX) + 4] + "…"


_TOKEN_LIKE = re.compile(r"isk_[a-z]+_[A-Za-z0-9]+")


def scrub(text: str) -> str:
    """``text`` with anything token-shaped (e.g. echoed by argparse) redacted."""
    return _TOKEN_LIKE.sub("isk_… (redacted)", text)


def redact(raw: str | None) -> str | None:
    """What the CLI prints in place of a token."""
    return None if raw is None else display_prefix(raw) + " (redacted)"
