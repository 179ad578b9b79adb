"""Waiting for a job to end, without polling the database in a tight loop.

When a job becomes terminal, the database itself deletes the job's order (the
prompt leaves the database with the job's last state change) and, on
PostgreSQL, sends ``pg_notify('image_skill_job_done', job_id)``, which it
delivers only on commit: a trigger on ``jobs`` (migration 0012) does both in
the statement that ends the job, whichever code path runs it. The
transaction that ends a job calls ``announce_terminal`` to wake this process's
waiters once it commits. Each process keeps one ``TerminalListener`` (a
LISTEN connection) that wakes its own waiters for jobs other processes
finished. A job this process is running (``ending_here``) is left out of the
listener's wake-ups: the notification can arrive before the commit's own reply
reaches the ending code, and a waiter woken then would find the job ended but
not yet handed over (``creative.answer``), and read its answer back from the
database; the executor wakes the waiter itself when it lets go of the job. A
waiter also re-reads the job every ``RECHECK_SECONDS``, so a notification lost
to a dropped connection costs a few seconds, never a hang.

Job ids are unique, so the in-process registry is shared by every app of the
process (tests run several); each entry remembers its event loop, so a signal
from another thread still reaches it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from functools import partial

import anyio
from sqlalchemy.ext.asyncio import AsyncSession

from image_skill.service.db.models import Job
from image_skill.service.jobs.after_commit import on_commit
from image_skill.service.jobs.schemas import TERMINAL

log = logging.getLogger("image_skill.jobs.waiter")

CHANNEL = "image_skill_job_done"
RECHECK_SECONDS = 3.0
_RECONNECT_SECONDS = (0.5, 1.0, 2.0, 5.0)

_waiters: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}
_ending_here: set[str] = set()


def announce_terminal(session: AsyncSession, job: Job) -> None:
    """``job`` has just become terminal in ``session``: wake this process's waiters on commit.

    Its order's delete and the other processes' notification come from the
    database's trigger on the status change (see the module docstring).
    """
    on_commit(session, partial(signal, job.id))


def signal(job_id: str) -> None:
    """Wake every waiter of this process for ``job_id`` (safe from any thread)."""
    for loop, ready in list(_waiters.get(job_id, ())):
        if loop.is_closed():
            continue
        loop.call_soon_threadsafe(ready.set)


@contextmanager
def ending_here(job_id: str) -> Iterator[None]:
    """This process runs ``job_id`` until the block exits: its waiters hear of its end
    from here (on commit, then once more on exit), not from the listener."""
    _ending_here.add(job_id)
    try:
        yield
    finally:
        _ending_here.discard(job_id)
        signal(job_id)


def signal_all() -> None:
    """Wake every waiter to re-read its job (after notifications may have been missed)."""
    for job_id in list(_waiters):
        signal(job_id)


async def wait_until_terminal(
    job_id: str, timeout: float, read_status: Callable[[], Awaitable[str | None]]
) -> bool:
    """Wait up to ``timeout`` seconds for ``job_id`` to be terminal; True when it is.

    ``read_status`` reads the job's status from the database: once first, after
    every wake-up, and every ``RECHECK_SECONDS`` in case a signal was lost.
    """
    entry = (asyncio.get_running_loop(), asyncio.Event())
    _waiters.setdefault(job_id, set()).add(entry)
    try:
        with anyio.move_on_after(timeout):
            while True:
                entry[1].clear()
                if await read_status() in TERMINAL:
                    return True
                with anyio.move_on_after(RECHECK_SECONDS):
                    await entry[1].wait()
        return await read_status() in TERMINAL
    finally:
        waiting = _waiters.get(job_id)
        if waiting is not None:
            waiting.discard(entry)
            if not waiting:
                _waiters.pop(job_id, None)


class TerminalListener:
    """This process's one LISTEN connection on PostgreSQL (reconnects on its own)."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self.listening = anyio.Event()

    async def run(self) -> None:
        """LISTEN until cancelled; after every reconnect, waiters re-read their jobs."""
        import psycopg

        failures = 0
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.conninfo, autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    failures = 0
                    self.listening.set()
                    signal_all()
                    async for note in conn.notifies():
                        if note.payload not in _ending_here:
                            signal(note.payload)
            except psycopg.Error as exc:
                delay = _RECONNECT_SECONDS[min(failures, len(_RECONNECT_SECONDS) - 1)]
                failures += 1
                log.warning("job listener lost its connection (%s); retrying", type(exc).__name__)
                await anyio.sleep(delay)
