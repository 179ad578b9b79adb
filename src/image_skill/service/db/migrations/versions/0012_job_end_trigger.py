"""job end trigger: a job's order is deleted, and on PostgreSQL its end announced, by the database

Revision ID: 0012_job_end_trigger
Revises: 0011_daily_job_counts

Every transaction that ended a job sent two more statements for it: the
delete of its order (the prompt leaves the database with the job's last state
change) and, on PostgreSQL, ``pg_notify('image_skill_job_done', job_id)`` for
the waiters of other processes. A trigger on ``jobs`` now does both in the
statement that moves the job to completed, failed or canceled, whichever code
path ends it, and PostgreSQL still delivers the notification only on commit.
Orders left behind by terminal jobs (none are expected) are deleted here. A
later migration that rebuilds ``jobs`` on SQLite (batch mode's copy-and-move)
drops this trigger with the old table and must create it again.
"""

from __future__ import annotations

from alembic import op

revision = "0012_job_end_trigger"
down_revision = "0011_daily_job_counts"
branch_labels = None
depends_on = None

_TERMINAL = "('completed', 'failed', 'canceled')"
_ENDS = f"NEW.status IN {_TERMINAL} AND OLD.status IS DISTINCT FROM NEW.status"
_DELETE_ORDER = "DELETE FROM job_orders WHERE job_id = NEW.id"

_SQLITE = [
    "CREATE TRIGGER trg_jobs_end AFTER UPDATE OF status ON jobs "
    f"WHEN {_ENDS.replace('IS DISTINCT FROM', 'IS NOT')} BEGIN {_DELETE_ORDER}; END",
]
_POSTGRES = [
    f"""
CREATE FUNCTION jobs_end() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  {_DELETE_ORDER};
  PERFORM pg_notify('image_skill_job_done', NEW.id);
  RETURN NULL;
END
$$
""",
    "CREATE TRIGGER trg_jobs_end AFTER UPDATE OF status ON jobs "
    f"FOR EACH ROW WHEN ({_ENDS}) EXECUTE FUNCTION jobs_end()",
]


def upgrade() -> None:
    op.execute(
        f"DELETE FROM job_orders WHERE job_id IN (SELECT id FROM jobs WHERE status IN {_TERMINAL})"
    )
    for statement in _POSTGRES if op.get_bind().dialect.name == "postgresql" else _SQLITE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER trg_jobs_end ON jobs")
        op.execute("DROP FUNCTION jobs_end()")
    else:
        op.execute("DROP TRIGGER trg_jobs_end")
