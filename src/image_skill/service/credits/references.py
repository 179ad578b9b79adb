"""Shapes of the ids the credits routes accept, checked before any query.

A reference that reaches the database unchecked can break it (a NUL byte is a
server error on PostgreSQL; a 300-character Stripe id overflows its column) or
probe it. Every id a caller or a Stripe event hands us is matched against its
documented shape first, and a mismatch is INVALID_ARGUMENTS naming the field.
Our own ids are ``<prefix>_`` and base32 (``contract/ids.py``); Stripe's are
``evt_``/``cs_`` and ``[A-Za-z0-9_]``, at most 255 characters (the column size).
"""

from __future__ import annotations

import re

from image_skill.contract.errors import invalid_arguments
from image_skill.contract.ids import MAX_ID_LENGTH, MAX_REFERENCE_LENGTH

OUR_ID_MAX = MAX_ID_LENGTH
STRIPE_ID_MAX = MAX_REFERENCE_LENGTH
# kind -> (prefix, characters after the prefix, longest allowed value)
_SHAPES = {
    "quote_id": ("quote", "[A-Za-z0-9]", OUR_ID_MAX),
    "payment_attempt_id": ("payatt", "[A-Za-z0-9]", OUR_ID_MAX),
    "receipt_id": ("receipt", "[A-Za-z0-9]", OUR_ID_MAX),
    "checkout_session_id": ("cs", "[A-Za-z0-9_]", STRIPE_ID_MAX),
    "event_id": ("evt", "[A-Za-z0-9_]", STRIPE_ID_MAX),
}
_PATTERNS = {
    kind: re.compile(rf"^{prefix}_{chars}+$") for kind, (prefix, chars, _) in _SHAPES.items()
}
# Stripe event types: lower-case words joined by dots (``checkout.session.completed``).
_EVENT_TYPE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")
EVENT_TYPE_MAX = 100

QUOTE_ID_PATTERN = _PATTERNS["quote_id"].pattern


def is_valid(kind: str, value: object) -> bool:
    """True when ``value`` has the shape of a ``kind`` reference (e.g. ``quote_id``)."""
    limit = _SHAPES[kind][2]
    return isinstance(value, str) and len(value) <= limit and bool(_PATTERNS[kind].fullmatch(value))


def checked(kind: str, value: object, *, field: str | None = None) -> str:
    """``value`` when it has the shape of a ``kind`` reference; INVALID_ARGUMENTS otherwise."""
    if not isinstance(value, str) or not is_valid(kind, value):
        prefix, _, limit = _SHAPES[kind]
        name = field or kind
        raise invalid_arguments(
            f"{name} must be an id starting with '{prefix}_' followed by letters and digits "
            f"(at most {limit} characters).",
            field=name,
        )
    return value


def checked_event_type(value: object) -> str:
    """A Stripe event type of the documented shape; INVALID_ARGUMENTS otherwise."""
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= EVENT_TYPE_MAX
        or not _EVENT_TYPE.fullmatch(value)
    ):
        raise invalid_arguments("The event's type is not a Stripe event type.", field="type")
    return value
