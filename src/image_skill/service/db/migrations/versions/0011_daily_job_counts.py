"""daily job counts: each actor's jobs counting against a UTC day's cap, kept by triggers

Revision ID: 0011_daily_job_counts
Revises: 0010_credit_accounts

Every admission and every answer counted the actor's jobs of today through
``ix_jobs_actor_status``: one index entry and one row per job, so an agent's
thousandth create of a day paid for the 999 before it. ``daily_job_counts``
holds that count per actor and UTC day. Triggers on ``jobs`` change it in the
statement that inserts a counted job (a create or edit that is queued, running
or completed), that moves one in or out of those statuses (a failure or a
cancel gives its place back), or that deletes one; existing databases are
backfilled from ``jobs`` here, in the same transaction as the triggers. A later
migration that rebuilds ``jobs`` on SQLite (batch mode's copy-and-move) drops
these triggers with the old table and must create them again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_daily_job_counts"
down_revision = "0010_credit_accounts"
branch_labels = None
depends_on = None

# A job that counts against its day's cap (quota.repository's definition, in SQL).
_COUNTED = (
    "({row}.operation IN ('create', 'edit') AND {row}.status IN ('queued', 'running', 'completed'))"
)
# The UTC day of a job's created_at: SQLite keeps UTC timestamps as text, PostgreSQL as
# timestamptz.
_SQLITE_DAY = "substr({row}.created_at, 1, 10)"
_POSTGRES_DAY = "to_char({row}.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"

_ADD = (
    "INSERT INTO daily_job_counts (actor_id, day, jobs) VALUES (NEW.actor_id, {day}, 1) "
    "ON CONFLICT (actor_id, day) DO UPDATE SET jobs = daily_job_counts.jobs + 1"
)
_REMOVE = (
    "UPDATE daily_job_counts SET jobs = jobs - 1 WHERE actor_id = OLD.actor_id AND day = {day}"
)
# An update matters when the job starts or stops counting, or moves to another key.
_MOVES = (
    "({old}) IS NOT ({new}) OR OLD.actor_id IS NOT NEW.actor_id "
    "OR OLD.created_at IS NOT NEW.created_at"
)


def _sqlite_triggers() -> list[str]:
    old_day, new_day = _SQLITE_DAY.format(row="OLD"), _SQLITE_DAY.format(row="NEW")
    old, new = _COUNTED.format(row="OLD"), _COUNTED.format(row="NEW")
    add, remove = _ADD.format(day=new_day), _REMOVE.format(day=old_day)
    return [
        f"CREATE TRIGGER trg_jobs_daily_count_insert AFTER INSERT ON jobs WHEN {new} "
        f"BEGIN {add}; END",
        f"CREATE TRIGGER trg_jobs_daily_count_delete AFTER DELETE ON jobs WHEN {old} "
        f"BEGIN {remove}; END",
        # Two triggers for an update, each with its condition (SQLite has no IF).
        "CREATE TRIGGER trg_jobs_daily_count_leave "
        "AFTER UPDATE OF status, operation, actor_id, created_at ON jobs "
        f"WHEN {old} AND ({_MOVES.format(old=old, new=new)}) BEGIN {remove}; END",
        "CREATE TRIGGER trg_jobs_daily_count_enter "
        "AFTER UPDATE OF status, operation, actor_id, created_at ON jobs "
        f"WHEN {new} AND ({_MOVES.format(old=old, new=new)}) BEGIN {add}; END",
    ]


def _postgres_statements() -> list[str]:
    old_day, new_day = _POSTGRES_DAY.format(row="OLD"), _POSTGRES_DAY.format(row="NEW")
    old, new = _COUNTED.format(row="OLD"), _COUNTED.format(row="NEW")
    moves = _MOVES.replace("IS NOT", "IS DISTINCT FROM").format(old=old, new=new)
    return [
        f"""
CREATE FUNCTION jobs_daily_count() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') AND {old} THEN
    {_REMOVE.format(day=old_day)};
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') AND {new} THEN
    {_ADD.format(day=new_day)};
  END IF;
  RETURN NULL;
END
$$
""",
        "CREATE TRIGGER trg_jobs_daily_count AFTER INSERT OR DELETE ON jobs "
        "FOR EACH ROW EXECUTE FUNCTION jobs_daily_count()",
        "CREATE TRIGGER trg_jobs_daily_count_update "
        "AFTER UPDATE OF status, operation, actor_id, created_at ON jobs "
        f"FOR EACH ROW WHEN ({moves}) EXECUTE FUNCTION jobs_daily_count()",
    ]


def upgrade() -> None:
    op.create_table(
        "daily_job_counts",
        sa.Column("actor_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("jobs", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["actors.id"], name=op.f("fk_daily_job_counts_actor_id_actors")
        ),
        sa.PrimaryKeyConstraint("actor_id", "day", name=op.f("pk_daily_job_counts")),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    day = (_POSTGRES_DAY if postgres else _SQLITE_DAY).format(row="jobs")
    # The backfill and the triggers in one transaction (both databases run DDL in one),
    # so no job can change between them and be missed or counted twice.
    op.execute(
        f"INSERT INTO daily_job_counts (actor_id, day, jobs) "
        f"SELECT jobs.actor_id, {day}, count(*) FROM jobs WHERE {_COUNTED.format(row='jobs')} "
        f"GROUP BY jobs.actor_id, {day}"
    )
    for statement in _postgres_statements() if postgres else _sqlite_triggers():
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER trg_jobs_daily_count_update ON jobs")
        op.execute("DROP TRIGGER trg_jobs_daily_count ON jobs")
        op.execute("DROP FUNCTION jobs_daily_count()")
    else:
        for name in ("insert", "delete", "leave", "enter"):
            op.execute(f"DROP TRIGGER trg_jobs_daily_count_{name}")
    op.drop_table("daily_job_counts")
