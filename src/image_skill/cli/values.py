"""Small normalisers for command-line values."""

from __future__ import annotations


def optional_text(value: str | None) -> str | None:
    """Trimmed text, or None when absent or blank."""
    if value is None:
        return None
    return value.strip() or None
