"""Prefixed identifiers, trace ids and timestamps.

Ids are ``<prefix>_<time><random>``: a 10-character Crockford base32 millisecond
timestamp followed by 16 random base32 characters, so ids of one kind sort by
creation time and stay unguessable (80 random bits).

Ids that come back from callers (in paths, queries and bodies) are checked for
shape before any lookup: letters, digits, ``.``, ``_`` and ``-``, bounded in
length. A value of that shape that names nothing is ``NOT_FOUND``; anything
else (a NUL byte, a space, a quote, an over-long value) never reaches the
database and is ``INVALID_ARGUMENTS`` naming the field.
"""

from __future__ import annotations

import os
import re
import time

from image_skill.contract.errors import invalid_arguments

# ``datetime`` is imported where it is used: the CLI needs only trace ids, and the
# pure-Python half of ``datetime`` would cost every call ~1 ms (mypy reads the block).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import datetime

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"

# The shape every id and reference shares (ours, and Stripe's cs_... session ids).
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
# Bounds: our own ids fit the 64-character id columns; asset ids may be longer
# (the contract allows 128 characters after the prefix); references that may be
# a provider's id (Stripe Checkout sessions) get 255.
MAX_ID_LENGTH = 64
MAX_ASSET_ID_LENGTH = 160
MAX_REFERENCE_LENGTH = 255
# CONTRACT.md: the asset id pattern.
ASSET_ID_PATTERN = r"^(asset|image|video|audio|mask|thumb|file)_[A-Za-z0-9._-]{1,128}$"

_ID_SHAPE = re.compile(ID_PATTERN)


def is_id_shaped(value: str, *, max_length: int = MAX_ID_LENGTH) -> bool:
    """True when ``value`` has the shape of an id and is at most ``max_length`` long."""
    return 0 < len(value) <= max_length and _ID_SHAPE.fullmatch(value) is not None


def checked_id(value: str, *, field: str, max_length: int = MAX_ID_LENGTH) -> str:
    """``value`` if it has the shape of an id, else INVALID_ARGUMENTS naming ``field``.

    The message never quotes the value (it may hold anything, e.g. a NUL byte).
    """
    if is_id_shaped(value, max_length=max_length):
        return value
    raise invalid_arguments(
        f"{field} must be an id: up to {max_length} letters, digits, '.', '_' or '-'.", field=field
    )


def base32(value: int, length: int) -> str:
    """``value`` as ``length`` characters of the ids' base32 alphabet (high digits first)."""
    chars = []
    for _ in range(length):
        chars.append(ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def _random_bits(bits: int) -> int:
    """``bits`` random bits from the OS CSPRNG (``secrets.randbits`` without importing
    ``secrets``, whose hashlib/hmac/random imports every CLI call would pay for)."""
    return int.from_bytes(os.urandom((bits + 7) // 8), "big") >> (-bits % 8)


def new_id(prefix: str) -> str:
    """A new time-sortable random id such as ``job_01jz…``."""
    millis = time.time_ns() // 1_000_000
    return f"{prefix}_{base32(millis, 10)}{base32(_random_bits(80), 16)}"


def new_trace_id() -> str:
    """A trace id in the contract's ``trace_<16 hex>`` form."""
    return f"trace_{os.urandom(8).hex()}"


def utc_now() -> datetime:
    """Timezone-aware now in UTC."""
    from datetime import UTC, datetime

    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    """UTC ISO 8601 with milliseconds and ``Z``, as the contract requires."""
    if moment is None:
        return None
    from datetime import UTC

    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
