"""Ending a job deletes its order and, on PostgreSQL, notifies waiters: the database does it.

Migration 0012's trigger on ``jobs`` runs in the statement that moves a job to
completed, failed or canceled, whatever writes it (here plain SQL, on SQLite and
PostgreSQL): the order (the prompt) is gone within that transaction, and
PostgreSQL's ``image_skill_job_done`` notification arrives only once it commits.
Other status changes keep the order and announce nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy import Engine, func, insert, select, update

from image_skill.contract.ids import utc_now
from image_skill.service.db.job_models import JobOrder
from image_skill.service.db.migrate import upgrade_to_head
from image_skill.service.db.models import Job
from image_skill.service.jobs.waiter import CHANNEL
from image_skill.service.settings import Settings
from tests.support.ledger import insert_job, new_account


@contextmanager
def listening(database_url: str) -> Iterator[psycopg.Connection | None]:
    """A connection LISTENing on the jobs' channel (PostgreSQL only)."""
    if database_url.startswith("sqlite"):
        yield None
        return
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"LISTEN {CHANNEL}")
        yield conn


def notified(listener: psycopg.Connection | None) -> list[str]:
    if listener is None:
        return []
    return [note.payload for note in listener.notifies(timeout=0.3)]


def test_a_job_that_ends_loses_its_order_and_is_announced_on_commit(
    database_url: str, tmp_path: Path, db: Engine
) -> None:
    upgrade_to_head(Settings(database_url=database_url, home=tmp_path, environment="test"))
    actor = new_account(db, "ends")[1]
    now = utc_now()
    jobs = {
        status: insert_job(actor, db, "create", "running", now)
        for status in ("completed", "failed", "canceled", "queued")
    }
    with db.begin() as conn:
        conn.execute(
            insert(JobOrder),
            [
                {"job_id": job_id, "payload": {"prompt": "p"}, "created_at": now}
                for job_id in jobs.values()
            ],
        )
    postgres = not database_url.startswith("sqlite")

    def orders(conn: object) -> set[str]:
        return set(conn.execute(select(JobOrder.job_id)).scalars())  # type: ignore[attr-defined]

    with listening(database_url) as listener:
        for status, job_id in jobs.items():
            with db.begin() as conn:
                conn.execute(update(Job).where(Job.id == job_id).values(status=status))
                ended = status != "queued"
                assert (job_id in orders(conn)) is not ended, status
                assert notified(listener) == []  # nothing before the commit
            assert notified(listener) == ([job_id] if ended and postgres else []), status
        # Already ended: another write to it announces nothing again.
        with db.begin() as conn:
            conn.execute(
                update(Job).where(Job.id == jobs["failed"]).values(status="failed", error_code="X")
            )
        assert notified(listener) == []
    with db.connect() as conn:
        assert orders(conn) == {jobs["queued"]}
        assert conn.execute(select(func.count()).select_from(JobOrder)).scalar_one() == 1
