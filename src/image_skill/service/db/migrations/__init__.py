"""Alembic migrations. ``SCHEMA_HEAD`` must name the newest revision (a test checks)."""

SCHEMA_HEAD = "0013_admission_lock"
