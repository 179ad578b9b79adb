"""credit accounts: a running balance per actor kept by a trigger; indexes for the hot queries

Revision ID: 0010_credit_accounts
Revises: 0009_console

A create used to sum all of an agent's ledger rows (twice) and count its jobs
without an index on ``jobs.actor_id``, so its cost grew with the account's age.
``credit_accounts`` holds each actor's ledger, summed; an AFTER INSERT trigger
on ``credit_ledger_entries`` upserts it for every entry, so it changes in the
transaction (and statement) that appends the entry, whoever appends it. The
ledger stays the append-only truth: existing databases are backfilled from it
here, and a test holds the two equal under concurrent writers. A later
migration that rebuilds ``credit_ledger_entries`` on SQLite (batch mode's
copy-and-move) drops the trigger with the old table and must create it again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_credit_accounts"
down_revision = "0009_console"
branch_labels = None
depends_on = None

# What one ledger row adds to its account (reservations and releases move the
# held figure; debits the debited one), shared by the backfill and the triggers.
_HELD = "CASE WHEN {row}.kind IN ('reservation', 'release') THEN -{row}.amount ELSE 0 END"
_DEBITED = "CASE WHEN {row}.kind = 'debit' THEN -{row}.amount ELSE 0 END"

_UPSERT = (
    "INSERT INTO credit_accounts (actor_id, balance, reserved, debited) "
    "VALUES (NEW.actor_id, NEW.amount, {held}, {debited}) "
    "ON CONFLICT (actor_id) DO UPDATE SET "
    "balance = credit_accounts.balance + excluded.balance, "
    "reserved = credit_accounts.reserved + excluded.reserved, "
    "debited = credit_accounts.debited + excluded.debited"
).format(held=_HELD.format(row="NEW"), debited=_DEBITED.format(row="NEW"))

_SQLITE_TRIGGER = f"""
CREATE TRIGGER trg_credit_ledger_entries_account
AFTER INSERT ON credit_ledger_entries
BEGIN
  {_UPSERT};
END
"""

_POSTGRES_FUNCTION = f"""
CREATE FUNCTION credit_ledger_entries_account() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  {_UPSERT};
  RETURN NEW;
END
$$
"""

_POSTGRES_TRIGGER = """
CREATE TRIGGER trg_credit_ledger_entries_account
AFTER INSERT ON credit_ledger_entries
FOR EACH ROW EXECUTE FUNCTION credit_ledger_entries_account()
"""

_BACKFILL = (
    "INSERT INTO credit_accounts (actor_id, balance, reserved, debited) "
    "SELECT e.actor_id, SUM(e.amount), SUM({held}), SUM({debited}) "
    "FROM credit_ledger_entries e GROUP BY e.actor_id"
).format(held=_HELD.format(row="e"), debited=_DEBITED.format(row="e"))


def upgrade() -> None:
    op.create_table(
        "credit_accounts",
        sa.Column("actor_id", sa.String(length=64), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("reserved", sa.BigInteger(), nullable=False),
        sa.Column("debited", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["actors.id"], name=op.f("fk_credit_accounts_actor_id_actors")
        ),
        sa.PrimaryKeyConstraint("actor_id", name=op.f("pk_credit_accounts")),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index("ix_jobs_actor_created", ["actor_id", "created_at"], unique=False)
        batch_op.create_index(
            "ix_jobs_actor_status", ["actor_id", "status", "created_at"], unique=False
        )
    with op.batch_alter_table("credit_ledger_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_credit_ledger_entries_actor_kind",
            ["actor_id", "kind", "created_at"],
            unique=False,
        )
    # The backfill and the trigger in one transaction (both databases run DDL in one),
    # so no entry can land between them and be missed or counted twice.
    op.execute(_BACKFILL)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_POSTGRES_FUNCTION)
        op.execute(_POSTGRES_TRIGGER)
    else:
        op.execute(_SQLITE_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER trg_credit_ledger_entries_account ON credit_ledger_entries")
        op.execute("DROP FUNCTION credit_ledger_entries_account()")
    else:
        op.execute("DROP TRIGGER trg_credit_ledger_entries_account")
    with op.batch_alter_table("credit_ledger_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_credit_ledger_entries_actor_kind")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_actor_status")
        batch_op.drop_index("ix_jobs_actor_created")
    op.drop_table("credit_accounts")
