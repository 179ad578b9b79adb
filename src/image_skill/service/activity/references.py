"""What kind of id an activity reference is, judged by its prefix alone."""

from __future__ import annotations

import re

from image_skill.contract.errors import ErrorCode, ImageSkillError

_BODY = r"[A-Za-z0-9._-]{1,200}"
# Longer prefixes first; the asset pattern is the contract's asset-id pattern.
_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("event", re.compile(rf"evt_{_BODY}")),
    ("job", re.compile(rf"job_{_BODY}")),
    ("asset", re.compile(r"(asset|image|video|audio|mask|thumb|file)_[A-Za-z0-9._-]{1,128}")),
    ("usage", re.compile(rf"usage_{_BODY}")),
    ("feedback", re.compile(rf"sig_{_BODY}")),
    ("trace", re.compile(rf"trace_{_BODY}")),
    ("quote", re.compile(rf"quote_{_BODY}")),
    ("payment_attempt", re.compile(rf"payatt_{_BODY}")),
    ("receipt", re.compile(rf"receipt_{_BODY}")),
    ("credit_event", re.compile(rf"credit_event_{_BODY}")),
    ("checkout_session", re.compile(rf"cs_{_BODY}")),
)
KINDS = tuple(kind for kind, _pattern in _KINDS)
ACCEPTED = (
    "an evt_, job_, asset (image_ ...), usage_, sig_, trace_, quote_, payatt_, receipt_, "
    "credit_event_ or cs_ id"
)


def reference_kind(value: str, *, field: str) -> str:
    """The kind of ``value`` (``event``, ``job``, ``asset`` …) or INVALID_ARGUMENTS."""
    for kind, pattern in _KINDS:
        if pattern.fullmatch(value):
            return kind
    raise ImageSkillError(
        ErrorCode.INVALID_ARGUMENTS,
        f"{field} must be {ACCEPTED}.",
        recovery={"suggested_command": "image-skill activity list --json"},
        details={"field": field},
    )
