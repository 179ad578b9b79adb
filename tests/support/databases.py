"""Blank databases of each kind: SQLite in a tmp dir, a fresh PostgreSQL database.

PostgreSQL comes from ``IMAGE_SKILL_TEST_POSTGRES_URL``; without it the PostgreSQL
half of a test is skipped locally and fails in CI, so CI always runs both.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

PG_URL_ENV = "IMAGE_SKILL_TEST_POSTGRES_URL"
COUNTED_TABLES = ("jobs", "assets", "credit_ledger_entries", "idempotency_records")


def postgres_admin_url() -> str | None:
    """The PostgreSQL server to make test databases on (None: not configured here)."""
    url = os.environ.get(PG_URL_ENV)
    if url:
        return url
    if os.environ.get("CI"):
        pytest.fail(f"{PG_URL_ENV} must be set in CI (run scripts/test-postgres)")
    return None


def create_pg_database(admin_url: str) -> str:
    """A new, empty PostgreSQL database on ``admin_url``'s server; returns its URL."""
    import psycopg

    name = f"isk_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def drop_pg_database(admin_url: str, database_url: str) -> None:
    """Drop a database made by ``create_pg_database`` (best effort, even if in use)."""
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    try:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except Exception:  # a leftover test database is harmless
        pass


@contextmanager
def blank_database(kind: str, workdir: Path) -> Iterator[str]:
    """A blank database URL of ``kind`` for module-scoped fixtures; PostgreSQL ones are
    dropped afterwards. Skips without PostgreSQL locally, fails without it in CI."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'test.db'}"
        return
    admin = postgres_admin_url()
    if admin is None:
        pytest.skip(f"PostgreSQL not configured ({PG_URL_ENV}); CI always runs it")
    try:
        url = create_pg_database(admin)
    except Exception as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL unreachable: {type(exc).__name__}")
    try:
        yield url
    finally:
        drop_pg_database(admin, url)


def row_counts(db: Engine) -> dict[str, int]:
    """Rows of the tables a creative call may write."""
    with db.connect() as conn:
        return {
            table: int(conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())
            for table in COUNTED_TABLES
        }
