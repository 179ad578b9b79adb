"""Prefixed identifiers, trace ids and timestamps.

Ids are ``<prefix>_<time><random>``: a 10-character Crockford base32 millisecond
timestamp followed by 16 random base32 characters, so ids of one kind sort by
creation time and stay unguessable (80 random bits).
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def _base32(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    """A new time-sortable random id such as ``job_01jz…``."""
    millis = time.time_ns() // 1_000_000
    return f"{prefix}_{_base32(millis, 10)}{_base32(secrets.randbits(80), 16)}"


def new_trace_id() -> str:
    """A trace id in the contract's ``trace_<16 hex>`` form."""
    return f"trace_{secrets.token_hex(8)}"


def utc_now() -> datetime:
    """Timezone-aware now in UTC."""
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    """UTC ISO 8601 with milliseconds and ``Z``, as the contract requires."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
