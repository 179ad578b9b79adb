"""Spotting secrets in feedback text before anything is stored.

Feedback is free text written by agents that also hold tokens and provider
keys, so a pasted credential is a real risk. Any text field that looks like a
credential makes the whole submission unstorable: the caller is told which
field to fix, never the value, and the value is never logged.

The patterns aim at the shapes real credentials have (a known prefix plus a
long random body), so that prose *about* credentials ("the sk_live key was
rejected", "Authorization: Bearer <token>") is still accepted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

# A credential body must not continue a longer word on its left.
_EDGE = r"(?<![A-Za-z0-9_])"
# Generic shapes also need a digit somewhere in the value, which real keys have and
# placeholders such as YOUR_API_KEY_HERE do not.
_HAS_DIGIT = r"(?=[A-Za-z0-9._~+/!@#%^&*-]*[0-9])"

SECRET_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # Our own agent tokens (isk_r_ + 38 base32 characters), and look-alikes of other classes.
    ("image_skill_token", re.compile(_EDGE + r"isk_[a-z]{1,8}_[A-Za-z0-9]{20,}")),
    # Stripe secret and restricted keys, webhook signing secrets.
    ("stripe_key", re.compile(_EDGE + r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{8,}")),
    ("stripe_webhook_secret", re.compile(_EDGE + r"whsec_[A-Za-z0-9+/=]{8,}")),
    # AWS access key ids (long-term and temporary).
    ("aws_access_key_id", re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")),
    # GitHub personal, OAuth, app and refresh tokens; fine-grained PATs.
    ("github_token", re.compile(_EDGE + r"gh[pousr]_[A-Za-z0-9]{30,}")),
    ("github_token", re.compile(_EDGE + r"github_pat_[A-Za-z0-9_]{22,}")),
    # OpenAI-style keys (sk-..., sk-proj-..., sk-ant-...).
    ("api_key", re.compile(_EDGE + r"sk-" + _HAS_DIGIT + r"[A-Za-z0-9_-]{20,}")),
    # Slack tokens.
    ("slack_token", re.compile(_EDGE + r"xox[abposr]-[A-Za-z0-9-]{10,}")),
    # JSON Web Tokens (three base64url parts, the first two JSON objects).
    ("jwt", re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    # PEM private keys of any kind.
    ("private_key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----")),
    # An Authorization header value with a real-looking credential behind it.
    ("bearer_token", re.compile(r"(?i)\bbearer\s+" + _HAS_DIGIT + r"[A-Za-z0-9._~+/-]{20,}")),
    # key=value / key: value assignments of well-known secret names.
    (
        "assigned_secret",
        re.compile(
            r"(?i)\b(?:api[_-]?key|secret[_-]?key|client[_-]?secret|access[_-]?token|"
            r"auth[_-]?token|aws_secret_access_key|password|passwd)[\"']?\s*[:=]\s*[\"']?"
            + _HAS_DIGIT
            + r"[A-Za-z0-9/+_.~!@#%^&*-]{12,}"
        ),
    ),
)


def secret_kind(text: str) -> str | None:
    """The kind of credential ``text`` appears to hold, or None."""
    for kind, pattern in SECRET_PATTERNS:
        if pattern.search(text):
            return kind
    return None


def find_secret(fields: Mapping[str, str | Iterable[str] | None]) -> str | None:
    """The name of the first field whose text looks like a secret, or None."""
    for name, value in fields.items():
        if value is None:
            continue
        texts = [value] if isinstance(value, str) else list(value)
        if any(secret_kind(text) for text in texts if isinstance(text, str)):
            return name
    return None
