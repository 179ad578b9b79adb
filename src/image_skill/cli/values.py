"""Small normalisers for command-line values and the objects answers wrap."""

from __future__ import annotations

from typing import Any

from image_skill.contract.errors import invalid_arguments

# The largest page a list command asks the service for.
MAX_LIMIT = 100


def optional_text(value: str | None) -> str | None:
    """Trimmed text, or None when absent or blank."""
    if value is None:
        return None
    return value.strip() or None


def page_limit(limit: int | None) -> int | None:
    """``--limit`` as given, if between 1 and MAX_LIMIT (or absent); else INVALID_ARGUMENTS."""
    if limit is not None and not 1 <= limit <= MAX_LIMIT:
        raise invalid_arguments(f"--limit must be between 1 and {MAX_LIMIT}.", field="--limit")
    return limit


def inner_object(data: Any, key: str) -> dict[str, Any]:
    """The ``key`` object of an answer's data (``data.job``), or ``data`` itself, or ``{}``."""
    if isinstance(data, dict):
        inner = data.get(key)
        if isinstance(inner, dict):
            return inner
        return data
    return {}
