"""Alembic environment: synchronous drivers, our metadata, batch mode for SQLite."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from image_skill.service.db.models import Base

config = context.config
url = config.get_main_option("sqlalchemy.url")
assert url is not None

engine = create_engine(url)
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    context.run_migrations()
engine.dispose()
