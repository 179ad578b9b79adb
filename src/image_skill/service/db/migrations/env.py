"""Alembic environment: synchronous drivers, our metadata, batch mode for SQLite.

Several processes may migrate the same database at once (CLI processes racing on
a fresh data dir, API replicas starting together). The whole upgrade therefore
runs in one transaction that first takes a database-wide lock -- ``BEGIN
IMMEDIATE`` on SQLite, an advisory lock on PostgreSQL -- so a second migrator
waits, then finds the schema already stamped and does nothing.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import create_engine, event, text

from image_skill.service.db.models import Base

# Any constant shared by every migrator of this schema.
_PG_MIGRATION_LOCK = 0x15C0_0001

config = context.config
url = config.get_main_option("sqlalchemy.url")
assert url is not None
is_sqlite = url.startswith("sqlite")

engine = create_engine(url, connect_args={"timeout": 60} if is_sqlite else {})
if is_sqlite:

    @event.listens_for(engine, "connect")
    def _own_transactions(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite would otherwise run DDL outside any transaction.
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin_immediate(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


with engine.begin() as connection:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    context.run_migrations()
engine.dispose()
