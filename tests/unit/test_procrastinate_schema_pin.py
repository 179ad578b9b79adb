"""Migration 0008 applies a pinned copy of procrastinate's schema; the installed package must match.

An upgrade of procrastinate that changes its schema fails here, so it comes
with a migration applying procrastinate's own migration files instead of a
schema that silently differs from what the code expects.
"""

from __future__ import annotations

from pathlib import Path

import procrastinate.schema

import image_skill.service.db.migrations as migrations

PINNED = Path(migrations.__file__).parent / "sql" / "procrastinate_3_10_0.sql"


def test_the_installed_procrastinate_schema_is_the_pinned_one() -> None:
    installed = procrastinate.schema.SchemaManager.get_schema()
    assert PINNED.read_text(encoding="utf-8") == installed
