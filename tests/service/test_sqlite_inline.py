"""SQLite calls that cannot wait run on the loop; a lock wait never stalls it.

The engine is the service's own (``create_engine_for``) on a real database file; a
second, plain sqlite3 connection plays another process holding the write lock.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiosqlite
import anyio
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from image_skill.service.db.engine import create_engine_for, session_scope
from image_skill.service.settings import Settings


def _engine(tmp_path: Path) -> AsyncEngine:
    settings = Settings(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'inline.db'}")
    return create_engine_for(settings)


@pytest.fixture
def thread_hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the calls that went to aiosqlite's thread."""
    hops: list[str] = []
    original = aiosqlite.Connection._execute

    async def counted(
        self: aiosqlite.Connection, fn: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> Any:
        call = args[0]  # InlineConnection hands over one call: partial(fn, *its args)
        sql = call.args[0] if call.args and isinstance(call.args[0], str) else None
        hops.append(sql or call.func.__name__)
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return hops


async def _prepare(engine: AsyncEngine) -> None:
    async with session_scope(engine, write=True) as session:
        await session.execute(text("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)"))


def test_transactions_stay_on_the_loop_when_nothing_makes_them_wait(
    tmp_path: Path, thread_hops: list[str]
) -> None:
    async def scenario() -> list[tuple[int, str]]:
        engine = _engine(tmp_path)
        try:
            await _prepare(engine)
            thread_hops.clear()
            async with session_scope(engine, write=True) as session:
                for n in range(5):
                    await session.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": f"row {n}"})
                await session.execute(text("UPDATE t SET v = v || '!' WHERE id = 1"))
                await session.execute(text("SELECT count(*) FROM t"))
            async with session_scope(engine, write=False) as session:
                rows = (await session.execute(text("SELECT id, v FROM t ORDER BY id"))).all()
            return [(int(row[0]), str(row[1])) for row in rows]
        finally:
            await engine.dispose()

    rows = anyio.run(scenario)
    assert rows[0] == (1, "row 0!") and len(rows) == 5
    # The write lock and the read were tried on the loop without waiting and went
    # through; only the pool's connection closing goes (a last close may checkpoint).
    assert thread_hops == ["close"]


def test_waiting_for_another_writer_never_stalls_the_loop(
    tmp_path: Path, thread_hops: list[str]
) -> None:
    async def scenario() -> tuple[int, float, int]:
        engine = _engine(tmp_path)
        try:
            await _prepare(engine)
            other = sqlite3.connect(tmp_path / "inline.db", isolation_level=None)
            other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            other.execute("INSERT INTO t (v) VALUES ('theirs')")
            ticks = 0
            reads_done = 0.0
            written = 0

            async def tick() -> None:
                nonlocal ticks
                while not written:
                    ticks += 1
                    await anyio.sleep(0.01)

            async def write() -> None:
                nonlocal written
                async with session_scope(engine, write=True) as session:
                    await session.execute(text("INSERT INTO t (v) VALUES ('ours')"))
                written = 1

            async def read_meanwhile() -> None:
                nonlocal reads_done
                started = time.monotonic()
                async with session_scope(engine, write=False) as session:
                    await session.execute(text("SELECT count(*) FROM t"))
                reads_done = time.monotonic() - started

            async with anyio.create_task_group() as group:
                group.start_soon(tick)
                group.start_soon(write)
                await anyio.sleep(0.3)
                group.start_soon(read_meanwhile)
                await anyio.sleep(0.3)
                other.execute("COMMIT")
            other.close()
            return ticks, reads_done, written
        finally:
            await engine.dispose()

    ticks, read_seconds, written = anyio.run(scenario)
    assert written == 1
    assert thread_hops.count("BEGIN IMMEDIATE") == 1  # tried on the loop, busy: it waited there
    # The loop kept ticking through 0.6 s of waiting for the lock (about 60 ticks),
    # and a reader (WAL) answered at once instead of queueing behind the writer.
    assert ticks > 20
    assert 0 < read_seconds < 0.25


def test_a_failed_write_rolls_back_and_the_next_transaction_starts_clean(
    tmp_path: Path, thread_hops: list[str]
) -> None:
    async def scenario() -> int:
        engine = _engine(tmp_path)
        try:
            await _prepare(engine)
            with pytest.raises(IntegrityError):
                async with session_scope(engine, write=True) as session:
                    await session.execute(text("INSERT INTO t (id, v) VALUES (7, 'a')"))
                    await session.execute(text("INSERT INTO t (id, v) VALUES (7, 'b')"))
            thread_hops.clear()
            async with session_scope(engine, write=False) as session:
                return int((await session.execute(text("SELECT count(*) FROM t"))).scalar_one())
        finally:
            await engine.dispose()

    assert anyio.run(scenario) == 0  # nothing of the failed transaction stayed
    assert thread_hops == ["close"]


def test_a_caller_cancelled_while_its_call_waits_on_the_thread_leaves_no_lock_behind(
    tmp_path: Path,
) -> None:
    """A write cut off while its BEGIN IMMEDIATE waits for another writer: the rollback
    that follows must run after that BEGIN (on the same thread), not before it on the
    loop, or the connection would go back to the pool holding the write lock."""

    async def scenario() -> None:
        engine = _engine(tmp_path)
        try:
            await _prepare(engine)
            other = sqlite3.connect(tmp_path / "inline.db", isolation_level=None, timeout=2)
            other.execute("BEGIN IMMEDIATE")

            async def write() -> None:
                async with session_scope(engine, write=True) as session:
                    await session.execute(text("INSERT INTO t (v) VALUES ('cut off')"))

            with anyio.move_on_after(0.3):
                await write()  # waits for the lock, then is cancelled
            other.execute("COMMIT")  # the thread's BEGIN IMMEDIATE now goes through
            await anyio.sleep(0.3)
            other.execute("BEGIN IMMEDIATE")  # "database is locked" if it was kept
            other.execute("COMMIT")
            other.close()
            async with session_scope(engine, write=False) as session:
                rows = (await session.execute(text("SELECT count(*) FROM t"))).scalar_one()
            assert rows == 0  # the cut-off insert never happened
        finally:
            await engine.dispose()

    anyio.run(scenario)


def test_a_try_without_waiting_leaves_the_busy_timeout_as_it_was(tmp_path: Path) -> None:
    """The loop's try sets SQLite's busy timeout to zero; every later wait (on the
    thread, by this connection) must get the configured timeout back."""

    async def scenario() -> list[int]:
        engine = _engine(tmp_path)
        timeouts = []
        try:
            await _prepare(engine)
            other = sqlite3.connect(tmp_path / "inline.db", isolation_level=None)
            for busy in (False, True, False):
                if busy:
                    other.execute("BEGIN IMMEDIATE")
                async with anyio.create_task_group() as group:
                    if busy:
                        group.start_soon(_commit_later, other)
                    async with session_scope(engine, write=True) as session:
                        timeout = await session.execute(text("PRAGMA busy_timeout"))
                        timeouts.append(int(timeout.scalar_one()))
            other.close()
        finally:
            await engine.dispose()
        return timeouts

    assert anyio.run(scenario) == [30000, 30000, 30000]


async def _commit_later(connection: sqlite3.Connection) -> None:
    await anyio.sleep(0.2)
    connection.execute("COMMIT")
