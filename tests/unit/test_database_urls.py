"""Database URLs map to the drivers that serve them: aiosqlite, asyncpg for requests, and
psycopg for migrations, admin commands and the queue (``settings.to_async_url``)."""

from __future__ import annotations

import pytest

from image_skill.service.settings import Settings, to_async_url, to_sync_url


@pytest.mark.parametrize(
    ("configured", "serves", "migrates"),
    [
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db", "sqlite:///x.db"),
        ("postgresql://u@h:5432/db", "postgresql+asyncpg://u@h:5432/db", None),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db", None),
        ("postgresql+psycopg2://u@h/db", "postgresql+asyncpg://u@h/db", None),
        # libpq's sslmode is asyncpg's ssl, and back again for psycopg.
        (
            "postgresql://u@h/db?sslmode=require",
            "postgresql+asyncpg://u@h/db?ssl=require",
            "postgresql+psycopg://u@h/db?sslmode=require",
        ),
        # A URL naming its driver keeps it.
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db", None),
    ],
)
def test_each_url_is_served_and_migrated_by_its_driver(
    configured: str, serves: str, migrates: str | None
) -> None:
    assert to_async_url(configured) == serves
    expected = migrates or serves.replace("+asyncpg", "+psycopg")
    assert to_sync_url(serves) == expected


def test_the_queue_and_listener_get_a_libpq_url() -> None:
    from image_skill.service.jobs.pg_queue import libpq_url

    settings = Settings(database_url="postgres://u@h/db?sslmode=require", environment="test")
    assert libpq_url(settings) == "postgresql://u@h/db?sslmode=require"
