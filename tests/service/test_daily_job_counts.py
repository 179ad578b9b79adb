"""The daily job counts (``daily_job_counts``) always equal a count of the jobs themselves.

Migration 0011 backfills them from existing jobs, and triggers on ``jobs`` keep them
in step with every insert, status change, move to another day and delete, whatever
writes the row: here plain SQL, on SQLite and PostgreSQL. The daily cap reads them
(quota.repository), so the service's cap tests check them end to end as well.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from alembic import command
from sqlalchemy import Engine, delete, select, update
from sqlalchemy.orm import Session

from image_skill.contract.ids import utc_now
from image_skill.service.db.migrate import alembic_config, upgrade_to_head
from image_skill.service.db.models import Job
from image_skill.service.db.quota_models import DailyJobCount
from image_skill.service.quota.repository import day_key
from image_skill.service.settings import Settings, to_sync_url
from tests.support.ledger import daily_job_counts, insert_job, new_account


def _settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, home=tmp_path / "home", environment="test")


def _kept(db: Engine) -> dict[tuple[str, str], int]:
    """The triggers' figures, without the rows that went back to zero."""
    with Session(db) as session:
        rows = session.execute(
            select(DailyJobCount.actor_id, DailyJobCount.day, DailyJobCount.jobs)
        )
        return {(actor, day): jobs for actor, day, jobs in rows if jobs}


def _counted(db: Engine) -> dict[tuple[str, str], int]:
    """The same figures counted from ``jobs`` (what admissions used to scan)."""
    with Session(db) as session:
        jobs = list(session.execute(select(Job)).scalars())
    return {
        (actor, day): count
        for actor in {job.actor_id for job in jobs}
        for day, count in daily_job_counts(j for j in jobs if j.actor_id == actor).items()
    }


def test_migration_backfills_the_counts_from_the_jobs(
    database_url: str, tmp_path: Path, db: Engine
) -> None:
    settings = _settings(database_url, tmp_path)
    command.upgrade(
        alembic_config(to_sync_url(settings.resolved_database_url)), "0010_credit_accounts"
    )  # type: ignore[arg-type]
    busy, idle = new_account(db, "counts")[1], new_account(db, "counts")[1]
    today = utc_now().replace(hour=12)
    yesterday = today - timedelta(days=1)
    for operation, status, created in [
        ("create", "completed", today),
        ("edit", "running", today),
        ("create", "queued", today),
        ("create", "failed", today),  # gave its place back
        ("upload", "completed", today),  # not a creative job
        ("create", "completed", yesterday),
        ("create", "canceled", yesterday),
    ]:
        insert_job(busy, db, operation, status, created)
    insert_job(idle, db, "create", "failed", today)
    upgrade_to_head(settings)
    assert (
        _kept(db)
        == _counted(db)
        == {
            (busy, day_key(today)): 3,
            (busy, day_key(yesterday)): 1,
        }
    )


def test_triggers_follow_every_insert_status_change_move_and_delete(
    database_url: str, tmp_path: Path, db: Engine
) -> None:
    upgrade_to_head(_settings(database_url, tmp_path))
    actor, other = new_account(db, "counts")[1], new_account(db, "counts")[1]
    # Just before and just after a UTC midnight: two days.
    midnight = utc_now().replace(hour=0, minute=0, second=0, microsecond=0)
    late, early = midnight - timedelta(microseconds=1), midnight
    queued = insert_job(actor, db, "create", "queued", late)
    running = insert_job(actor, db, "edit", "running", early)
    insert_job(actor, db, "upload", "completed", early)
    insert_job(other, db, "create", "failed", early)
    assert _kept(db) == _counted(db) == {(actor, day_key(late)): 1, (actor, day_key(early)): 1}

    def set_status(job_id: str, status: str) -> None:
        with db.begin() as conn:
            conn.execute(update(Job).where(Job.id == job_id).values(status=status))
        assert _kept(db) == _counted(db)

    set_status(queued, "running")  # still counted: no change
    set_status(queued, "completed")
    set_status(running, "failed")  # gives its place back
    set_status(running, "queued")  # a requeued job counts again
    set_status(running, "canceled")
    assert _kept(db) == {(actor, day_key(late)): 1}
    # A job moved to another day or actor (no code does it; the SQL may).
    with db.begin() as conn:
        conn.execute(update(Job).where(Job.id == queued).values(created_at=early, actor_id=other))
    assert _kept(db) == _counted(db) == {(other, day_key(early)): 1}
    with db.begin() as conn:
        conn.execute(delete(Job).where(Job.id == queued))
    assert _kept(db) == _counted(db) == {}
