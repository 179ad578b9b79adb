"""durable jobs: queued status, job orders, and the procrastinate queue on PostgreSQL

Revision ID: 0008_durable_jobs
Revises: 0007_webhooks

Execution leaves the HTTP request: admission commits a ``queued`` job with
its order (prompt and resolved request, deleted when the job ends) and, on
PostgreSQL, the procrastinate job that carries its id, in one transaction.
Procrastinate's objects live in their own schema, ``procrastinate``, so they
never mix with (or show up as drift against) our tables. The SQL applied is
the copy of procrastinate 3.10.0's ``schema.sql`` kept next to this file; a
test holds it equal to the installed package's, so an upgrade that changes
procrastinate's schema needs a new migration instead of silently drifting.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0008_durable_jobs"
down_revision = "0007_webhooks"
branch_labels = None
depends_on = None

PROCRASTINATE_SCHEMA_SQL = Path(__file__).parent.parent / "sql" / "procrastinate_3_10_0.sql"


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("error_details", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("cancel_requested_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch_op.create_index("ix_jobs_status_queued", ["status", "queued_at"], unique=False)

    op.create_table(
        "job_orders",
        sa.Column("job_id", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["jobs.id"],
            name=op.f("fk_job_orders_job_id_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_job_orders")),
    )
    if op.get_bind().dialect.name == "postgresql":
        _install_procrastinate()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SCHEMA IF EXISTS procrastinate CASCADE")
    op.drop_table("job_orders")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_status_queued")
        batch_op.drop_column("attempts")
        batch_op.drop_column("cancel_requested_at")
        batch_op.drop_column("queued_at")
        batch_op.drop_column("error_details")


def _install_procrastinate() -> None:
    """Create schema ``procrastinate`` and run the pinned schema.sql inside it."""
    bind = op.get_bind()
    bind.exec_driver_sql("CREATE SCHEMA IF NOT EXISTS procrastinate")
    saved = bind.exec_driver_sql("SHOW search_path").scalar_one()
    bind.exec_driver_sql("SET LOCAL search_path TO procrastinate")
    # The raw cursor without parameters: the script has many statements, and its
    # ``%`` and ``:name`` must reach PostgreSQL untouched.
    cursor = bind.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(PROCRASTINATE_SCHEMA_SQL.read_text(encoding="utf-8"))
    finally:
        cursor.close()
    bind.execute(sa.text("SELECT set_config('search_path', :path, true)"), {"path": saved})
