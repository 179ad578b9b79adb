"""Alembic migrations. ``SCHEMA_HEAD`` must name the newest revision (a test checks)."""

SCHEMA_HEAD = "0012_job_end_trigger"
