"""console: single-use sign-in links and revocable browser sessions

Revision ID: 0009_console
Revises: 0008_durable_jobs

The web console signs a verified human in by an emailed link and keeps the
browser's session as a row (only keyed hashes of both secrets are stored), so
signing out revokes it at once.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_console"
down_revision = "0008_durable_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_sign_in_links",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("human_id", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["human_id"], ["actors.id"], name=op.f("fk_console_sign_in_links_human_id_actors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_sign_in_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_console_sign_in_links_token_hash")),
    )
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=128), nullable=False),
        sa.Column("human_id", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("organization_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["human_id"], ["actors.id"], name=op.f("fk_console_sessions_human_id_actors")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_console_sessions_organization_id_organizations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_console_sessions_token_hash")),
    )
    with op.batch_alter_table("console_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_console_sessions_human", ["human_id", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("console_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_console_sessions_human")
    op.drop_table("console_sessions")
    op.drop_table("console_sign_in_links")
