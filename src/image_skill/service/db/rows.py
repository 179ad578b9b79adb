"""Unsaved ORM rows written with one Core INSERT instead of a session flush.

The hot paths (a create's admission and completion) build their rows as ORM
objects, which the rest of the code reads, but write them with a prebuilt
INSERT: the unit of work that a flush runs to find, order and write them costs
several times the statement it sends.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table

from image_skill.service.db.models import Base


def insert_values(row: Base) -> dict[str, Any]:
    """The INSERT values of an unsaved row; a column left unset that has a default is
    left out, so its default applies (as a flush of the row would)."""
    table: Table = row.__table__  # type: ignore[assignment]
    values = {}
    for column in table.columns:
        value = getattr(row, column.key)
        if value is None and (column.default is not None or column.server_default is not None):
            continue
        values[column.key] = value
    return values
