"""Alembic migrations. ``SCHEMA_HEAD`` must name the newest revision (a test checks)."""

SCHEMA_HEAD = "0010_credit_accounts"
