"""``jobs.waiter.TerminalListener`` on a real PostgreSQL: a notification wakes the waiters
of a job another process ended, but not those of a job this process is still ending.

The notification can arrive before the ending code sees its own commit, and a
waiter woken then would find the job ended but its answer not yet handed over,
and read the answer back from the database (a create's extra statements, seen as
a flaky ``test_account_age``). A job running here wakes its waiters itself.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import psycopg
import pytest

from image_skill.service.jobs import waiter
from tests.support.databases import blank_database


class Status:
    """A job's status as the database would answer it, with the number of reads."""

    def __init__(self) -> None:
        self.value = "running"
        self.reads = 0

    async def read(self) -> str | None:
        self.reads += 1
        return self.value


def _notify(url: str, job_id: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_notify(%s, %s)", (waiter.CHANNEL, job_id))


def test_the_listener_wakes_waiters_of_jobs_ended_elsewhere_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(waiter, "RECHECK_SECONDS", 60.0)
    here, elsewhere = Status(), Status()

    async def scenario(url: str) -> None:
        listener = waiter.TerminalListener(url)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(listener.run)
            await listener.listening.wait()
            with waiter.ending_here("job_here"):
                tasks.start_soon(waiter.wait_until_terminal, "job_here", 30, here.read)
                tasks.start_soon(waiter.wait_until_terminal, "job_elsewhere", 30, elsewhere.read)
                await anyio.sleep(0.2)
                assert (here.reads, elsewhere.reads) == (1, 1)
                here.value = elsewhere.value = "completed"
                await anyio.to_thread.run_sync(_notify, url, "job_here")
                await anyio.to_thread.run_sync(_notify, url, "job_elsewhere")
                with anyio.fail_after(5):
                    while elsewhere.reads < 2:
                        await anyio.sleep(0.02)
                await anyio.sleep(0.3)  # the other notification has long arrived
                assert here.reads == 1
            # Letting go of the job wakes its waiter.
            with anyio.fail_after(5):
                while here.reads < 2:
                    await anyio.sleep(0.02)
            tasks.cancel_scope.cancel()

    with blank_database("postgres", tmp_path) as url:
        anyio.run(scenario, url)
    assert not waiter._waiters
    assert not waiter._ending_here
