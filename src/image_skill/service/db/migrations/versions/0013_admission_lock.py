"""admission lock: on PostgreSQL, one call locks an account and then reads its quota

Revision ID: 0013_admission_lock
Revises: 0012_job_end_trigger

An admission locks its actor's row (admissions of one account queue there) and
only then reads the account's jobs today and balance: read in the same
statement as the lock, they would come from the snapshot taken before the wait
and miss what the admission it waited for had just committed. That was two
round trips. ``image_skill_admission_lock`` takes the lock and then reads, and
as a volatile function each of its statements takes a fresh snapshot, so the
read follows the lock as before, in one call. It decides nothing: the refusal
is still the service's (``creative/accounting.py``). SQLite needs no function:
its admissions take the whole database's write lock at BEGIN.
"""

from __future__ import annotations

from alembic import op

revision = "0013_admission_lock"
down_revision = "0012_job_end_trigger"
branch_labels = None
depends_on = None

_FUNCTION = """
CREATE FUNCTION image_skill_admission_lock(account varchar, on_day varchar)
RETURNS TABLE (jobs_today bigint, balance bigint)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  PERFORM 1 FROM actors WHERE id = account FOR NO KEY UPDATE;
  RETURN QUERY SELECT
    (SELECT d.jobs FROM daily_job_counts d WHERE d.actor_id = account AND d.day = on_day),
    (SELECT c.balance FROM credit_accounts c WHERE c.actor_id = account);
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION image_skill_admission_lock(varchar, varchar)")
