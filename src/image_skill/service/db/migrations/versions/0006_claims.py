"""claims: agents stand alone until a verified claim; sponsor email, verified humans, claims

Revision ID: 0006_claims
Revises: 0005_activity_refs

Signup used to find-or-create a human by an unverified email and put the agent
in that human's organization, with (sponsor_id, name) unique so a repeat
signup rotated the token. Agents now record the email only as
``sponsor_email``; humans exist (and are ``verified_at``) through confirmed
claims. Existing agents keep their organization; their sponsor's email is
copied to ``sponsor_email`` so they can still ask to be claimed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_claims"
down_revision = "0005_activity_refs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("actors", schema=None) as batch_op:
        batch_op.drop_constraint("uq_actors_sponsor_name", type_="unique")
        batch_op.add_column(sa.Column("sponsor_email", sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        "claims",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("sponsor_email", sa.String(length=320), nullable=False),
        sa.Column("token_hash", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("human_id", sa.String(length=64), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["actors.id"], name=op.f("fk_claims_agent_id_actors")
        ),
        sa.ForeignKeyConstraint(
            ["human_id"], ["actors.id"], name=op.f("fk_claims_human_id_actors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claims")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_claims_token_hash")),
    )
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.create_index("ix_claims_agent_created", ["agent_id", "created_at"], unique=False)
    with op.batch_alter_table("credit_ledger_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_credit_ledger_entries_reason_created", ["reason", "created_at"], unique=False
        )
    _backfill_sponsor_email()


def _backfill_sponsor_email() -> None:
    """Existing agents may ask their (unverified) sponsor of record to claim them."""
    actors = sa.table(
        "actors",
        sa.column("id", sa.String()),
        sa.column("actor_type", sa.String()),
        sa.column("email", sa.String()),
        sa.column("sponsor_id", sa.String()),
        sa.column("sponsor_email", sa.String()),
    )
    sponsors = actors.alias("sponsors")
    email_of_sponsor = (
        sa.select(sponsors.c.email).where(sponsors.c.id == actors.c.sponsor_id).scalar_subquery()
    )
    op.get_bind().execute(
        actors.update()
        .where(actors.c.actor_type == "agent", actors.c.sponsor_id.is_not(None))
        .values(sponsor_email=email_of_sponsor)
    )


def downgrade() -> None:
    with op.batch_alter_table("credit_ledger_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_credit_ledger_entries_reason_created")
    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.drop_index("ix_claims_agent_created")
    op.drop_table("claims")
    _rename_duplicate_names()
    with op.batch_alter_table("actors", schema=None) as batch_op:
        batch_op.drop_column("verified_at")
        batch_op.drop_column("sponsor_email")
        batch_op.create_unique_constraint("uq_actors_sponsor_name", ["sponsor_id", "name"])


def _rename_duplicate_names() -> None:
    """Agents of one sponsor may now share a name; the old unique key needs them apart."""
    actors = sa.table(
        "actors",
        sa.column("id", sa.String()),
        sa.column("name", sa.String()),
        sa.column("sponsor_id", sa.String()),
        sa.column("created_at", sa.DateTime()),
    )
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(actors.c.id, actors.c.name, actors.c.sponsor_id)
        .where(actors.c.sponsor_id.is_not(None))
        .order_by(actors.c.created_at, actors.c.id)
    ).all()
    seen: set[tuple[str, str]] = set()
    for row in rows:
        if (row.sponsor_id, row.name) in seen:
            conn.execute(
                actors.update()
                .where(actors.c.id == row.id)
                .values(name=f"{row.name[:130]} {row.id}")
            )
        else:
            seen.add((row.sponsor_id, row.name))
