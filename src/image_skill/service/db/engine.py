"""Async engines and sessions, with SQLite tuned for many concurrent CLI processes.

SQLite gets WAL (readers never block the writer), a generous busy timeout (a
second CLI process waits instead of failing) and explicit ``BEGIN IMMEDIATE``
for writing transactions, so a writer takes the lock up front and two writers
never deadlock upgrading a read lock.

Every engine hides SQL parameters from its error messages, so a failed
statement never carries a prompt or a token hash into a log line.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from image_skill.service.db.sqlite_inline import inline_connector
from image_skill.service.settings import Settings

_IMMEDIATE = "image_skill_immediate"
_WAL_SWITCH_SECONDS = 30.0


def create_engine_for(settings: Settings) -> AsyncEngine:
    """The async engine for the configured database."""
    url = settings.resolved_database_url
    if not url.startswith("sqlite"):
        engine = create_async_engine(url, pool_size=10, max_overflow=20, hide_parameters=True)
        _ping_when_idle(engine)
        return engine
    settings.home.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(
        url,
        async_creator=inline_connector(url, timeout=30),
        pool_size=5,
        max_overflow=15,
        hide_parameters=True,
    )
    _tune_sqlite(engine)
    return engine


HEALTH_CHECK_TIMEOUT_SECONDS = 5.0


def create_health_engine_for(settings: Settings) -> AsyncEngine:
    """A one-connection engine reserved for health checks.

    A burst of requests can hold every connection of the main pool for a
    second or more; a probe queued behind them would report a healthy service
    as slow. Its own connection answers whether the database is reachable
    right now, and gives up quickly when it is not.
    """
    url = settings.resolved_database_url
    options: dict[str, Any] = {
        "pool_size": 1,
        "max_overflow": 0,
        "pool_timeout": HEALTH_CHECK_TIMEOUT_SECONDS,
        "hide_parameters": True,
    }
    if not url.startswith("sqlite"):
        # Autocommit and no pre-ping: the probe is one round trip; a dropped
        # connection fails one probe and is replaced on the next.
        return create_async_engine(
            url, connect_args=_connect_timeout(url), isolation_level="AUTOCOMMIT", **options
        )
    settings.home.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(
        url, connect_args={"timeout": HEALTH_CHECK_TIMEOUT_SECONDS}, **options
    )
    _tune_sqlite(engine)
    return engine


def _connect_timeout(url: str) -> dict[str, Any]:
    """The health engine's connect timeout, in the driver's own argument."""
    if url.startswith("postgresql+asyncpg"):
        return {"timeout": HEALTH_CHECK_TIMEOUT_SECONDS}
    return {"connect_timeout": int(HEALTH_CHECK_TIMEOUT_SECONDS)}


# Reads through a memory map of the database file (the first 256 MiB) instead of a
# read() into each connection's own 2 MB page cache: once a database outgrew that
# cache, every create re-read its index pages with system calls (CPU per create grew
# with the file). The OS shares the mapped pages between connections and processes.
_MMAP = f"PRAGMA mmap_size={256 * 1024 * 1024}"


# A pooled PostgreSQL connection idle this long is pinged before it is handed out.
PING_AFTER_IDLE_SECONDS = 1.0
_IDLE_SINCE = "image_skill_idle_since"


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Ping a pooled connection before use only when it has sat idle.

    A connection can die while it waits in the pool (a database restart or
    failover, an idle timeout in a proxy), and a request handed a dead one
    would fail. SQLAlchemy's ``pool_pre_ping`` guards against that with one
    more round trip at every checkout, three per create. Under load a
    connection goes back out within milliseconds of its return, too soon for
    a restart to have happened in between, so only one idle for a second or
    more is pinged; a dead one is replaced (the pool retries the checkout).
    A connection cut while in use fails its statement, and SQLAlchemy then
    drops every pooled connection older than that failure.
    """

    @event.listens_for(engine.sync_engine.pool, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine.sync_engine.pool, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            record.info.pop(_IDLE_SINCE, None)
            raise DisconnectionError("a pooled connection was found dead") from exc


def _tune_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to us so BEGIN IMMEDIATE is possible.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=30000")
        _ensure_wal(cursor)
        for pragma in ("PRAGMA foreign_keys=ON", "PRAGMA synchronous=NORMAL", _MMAP):
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _ensure_wal(cursor: Any) -> None:
    """Switch the database file to WAL (a persistent setting) unless it already is.

    The switch needs an exclusive lock and SQLite refuses it at once, without
    the busy timeout, while another process holds a write transaction (as on
    a fresh data dir, where one CLI process migrates while others start). So
    read the mode first, and retry the switch for a while.
    """
    deadline = time.monotonic() + _WAL_SWITCH_SECONDS
    while True:
        try:
            cursor.execute("PRAGMA journal_mode")
            if str(cursor.fetchone()[0]).lower() == "wal":
                return
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


_WRITER = "image_skill_writer"


def writer(engine: AsyncEngine) -> AsyncEngine:
    """The same engine, but its transactions take the write lock at BEGIN.

    Made once per engine and kept: ``execution_options`` builds a new engine
    object each call (tens of microseconds, on every write transaction).
    """
    found: AsyncEngine | None = engine.sync_engine.__dict__.get(_WRITER)
    if found is None:
        found = engine.execution_options(**{_IMMEDIATE: True})
        engine.sync_engine.__dict__[_WRITER] = found
    return found


_READER = "image_skill_reader"


def reader(engine: AsyncEngine) -> AsyncEngine:
    """The engine for read-only sessions: on PostgreSQL, one without BEGIN and COMMIT.

    At READ COMMITTED every PostgreSQL statement reads its own snapshot, in a
    transaction or not, so wrapping reads in one buys nothing but two round
    trips (a create's token lookup paid them). SQLite keeps its read
    transaction: there it is what makes several reads see one snapshot. The
    reader refuses anything but a SELECT, so a write slipped into a read-only
    session fails loudly instead of committing statement by statement.
    """
    if engine.dialect.name == "sqlite":
        return engine
    found: AsyncEngine | None = engine.sync_engine.__dict__.get(_READER)
    if found is None:
        found = engine.execution_options(isolation_level="AUTOCOMMIT")
        event.listen(found.sync_engine, "before_cursor_execute", _only_reads)
        engine.sync_engine.__dict__[_READER] = found
    return found


def _only_reads(
    _conn: Any, _cursor: Any, statement: str, _parameters: Any, _context: Any, _many: bool
) -> None:
    if statement.lstrip()[:6].upper() != "SELECT":
        raise ReadOnlySessionWrite(f"a read-only session sent {statement.split(None, 1)[0]}")


class ReadOnlySessionWrite(RuntimeError):
    """A statement other than SELECT in a read-only session: a bug, never bad input."""


_WRITER_WAIT_SECONDS = 30.0


def _sqlite_writer_lock(engine: AsyncEngine) -> asyncio.Lock | None:
    """One writer at a time per process and event loop on SQLite.

    SQLite allows one writer anyway; queueing writers here, on the event loop,
    means a request never parks a pooled connection inside SQLite's busy wait
    while a sibling request of the same process holds the lock (which could
    stall the whole process when a driver cleanup runs on the loop thread).
    Other processes are still serialised by SQLite's own lock.
    """
    if engine.dialect.name != "sqlite":
        return None
    pool = engine.sync_engine.pool
    locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]
    locks = pool.__dict__.setdefault("_image_skill_writer_locks", weakref.WeakKeyDictionary())
    loop = asyncio.get_running_loop()
    lock = locks.get(loop)
    if lock is None:
        lock = locks[loop] = asyncio.Lock()
    return lock


@asynccontextmanager
async def session_scope(engine: AsyncEngine, *, write: bool) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit on success, roll back on any error."""
    lock = _sqlite_writer_lock(engine) if write else None
    if lock is not None:
        try:
            await asyncio.wait_for(lock.acquire(), timeout=_WRITER_WAIT_SECONDS)
        except TimeoutError:
            raise PoolTimeout("timed out waiting for the SQLite writer slot") from None
    try:
        bind = writer(engine) if write else reader(engine)
        async with AsyncSession(bind, expire_on_commit=False) as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise
    finally:
        if lock is not None:
            lock.release()


T = TypeVar("T")
_TRANSIENT = (OperationalError, InterfaceError, PoolTimeout)


async def in_transaction(
    engine: AsyncEngine,
    work: Callable[[AsyncSession], Awaitable[T]],
    *,
    write: bool,
    attempts: int = 4,
) -> T:
    """Run ``work`` in one transaction, retrying transient database failures.

    For the steps that must not be lost once money or a provider call is
    involved (settling or releasing a job): a busy database or an exhausted
    pool delays them instead of leaving the job stranded.
    """
    for attempt in range(1, attempts + 1):
        try:
            async with session_scope(engine, write=write) as session:
                return await work(session)
        except _TRANSIENT:
            if attempt == attempts:
                raise
            await asyncio.sleep(0.2 * 2 ** (attempt - 1))
    raise AssertionError("unreachable")  # pragma: no cover
