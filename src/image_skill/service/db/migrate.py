"""Bring a database to the newest schema with Alembic.

A cheap version probe runs first so an up-to-date database (every CLI call in
embedded mode) never pays for importing Alembic.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, inspect, text

from image_skill.service.db.migrations import SCHEMA_HEAD
from image_skill.service.settings import Settings, to_sync_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(sync_url: str) -> object:
    """An Alembic Config pointing at our packaged migrations."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", sync_url.replace("%", "%%"))
    return config


def current_revision(sync_url: str) -> str | None:
    """The revision stamped in the database, or None for a blank one."""
    engine = create_engine(sync_url)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
            return None if row is None else str(row[0])
    finally:
        engine.dispose()


def upgrade_to_head(settings: Settings) -> None:
    """Migrate the configured database to ``SCHEMA_HEAD`` if it is behind."""
    sync_url = to_sync_url(settings.resolved_database_url)
    if settings.is_sqlite:
        settings.home.mkdir(parents=True, exist_ok=True)
    if current_revision(sync_url) == SCHEMA_HEAD:
        return
    from alembic import command

    command.upgrade(alembic_config(sync_url), "head")  # type: ignore[arg-type]
