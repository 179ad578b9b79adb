"""SQLite connections that leave the driver's thread only for steps that do wait.

aiosqlite runs every call (making a cursor, executing, fetching, closing,
committing) on its own thread: four round trips per statement between the event
loop and that thread, each a queue put, a wake-up through the loop's self-pipe
and a hand-over of the GIL, which under load waits for the busy loop thread.
A create made ~150 of them.

Most of those calls cannot block: handling a cursor, fetching rows already
stepped, committing or rolling back (WAL; the write lock is already ours), and
every statement of a transaction that took the write lock with ``BEGIN
IMMEDIATE`` (no other connection can make it wait). Those run here, on the
loop thread, in microseconds, as does a deferred ``BEGIN`` (it takes no lock
until its first read).

What can wait for another connection (``BEGIN IMMEDIATE`` itself, and a read
in WAL mode, which waits only in rare moments such as another connection
recovering the WAL index) is first tried here with SQLite's busy timeout set
to zero: almost always it goes through at once. Only when SQLite answers
"busy" is it sent to the driver's thread, to wait there with the full busy
timeout, so a busy database never stalls the loop.

The sqlite3 connection is used from two threads, never at once: each call is
awaited before the next is made (``check_same_thread=False`` allows it).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from functools import partial
from typing import Any

import aiosqlite
from sqlalchemy.engine import make_url

_WRITE_LOCK = "BEGIN IMMEDIATE"
_DEFERRED_BEGIN = "BEGIN"
# Connection calls that never wait for a lock (closing may checkpoint: the thread).
_CONNECTION_CALLS = frozenset({"cursor", "commit", "rollback"})
_TRANSACTION_ENDS = frozenset({"commit", "rollback"})
_STATEMENT_CALLS = frozenset({"execute", "executemany", "executescript"})
# How a call runs: on the loop; tried on the loop without waiting, then on the thread
# if SQLite is busy; or on the thread.
_INLINE, _TRY_INLINE, _THREAD = "inline", "try inline", "thread"


class InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection that runs the calls that cannot wait on the loop thread."""

    _holds_write_lock = False
    # Calls handed to the driver's thread and not yet finished there. A caller
    # cancelled while it waited (a request cut off, a shutdown) leaves its call
    # running: until it ends, every call goes the same way, behind it, so no call
    # ever runs on the loop at the same time as one on the thread. (Two counts, each
    # written by one thread only: sent on the loop, ended on the driver's thread.)
    _sent = 0
    _ended = 0
    # The connection's own busy timeout, restored after each try without waiting.
    _busy_timeout_ms: int | None = None

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        way = self._way_of(fn, args) if self._sent == self._ended else _THREAD
        if way != _THREAD and (not self._running or self._connection is None):
            raise ValueError("Connection closed")
        if way == _INLINE:
            return fn(*args, **kwargs)
        if way == _TRY_INLINE:
            went_through, result = self._without_waiting(fn, args, kwargs)
            if went_through:
                self._note_write_lock(args)
                return result
        self._sent += 1
        result = await super()._execute(self._counted, partial(fn, *args, **kwargs))
        self._note_write_lock(args)
        return result

    def _note_write_lock(self, args: tuple[Any, ...]) -> None:
        if args and args[0] == _WRITE_LOCK:  # as db.engine's "begin" listener sends it
            self._holds_write_lock = True

    def _without_waiting(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[bool, Any]:
        """Run ``fn`` here with no busy wait: ``(True, result)``, or ``(False, None)`` when
        SQLite is busy (nothing was done; the call must wait on the thread)."""
        connection = self._connection
        assert connection is not None  # checked by _execute
        if self._busy_timeout_ms is None:
            self._busy_timeout_ms = int(connection.execute("PRAGMA busy_timeout").fetchone()[0])
        connection.execute("PRAGMA busy_timeout=0")
        try:
            return True, fn(*args, **kwargs)
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                raise
            return False, None
        finally:
            connection.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")

    def _counted(self, call: Callable[[], Any]) -> Any:
        """Run on the driver's thread; the count drops when the call ends, awaited or not."""
        try:
            return call()
        finally:
            self._ended += 1

    def _way_of(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> str:
        owner = getattr(fn, "__self__", None)
        name = getattr(fn, "__name__", "")
        if isinstance(owner, sqlite3.Connection):
            if name in _TRANSACTION_ENDS:
                self._holds_write_lock = False
            return _INLINE if name in _CONNECTION_CALLS else _THREAD
        if not isinstance(owner, sqlite3.Cursor):
            return _THREAD
        if name not in _STATEMENT_CALLS:
            return _INLINE  # fetching rows already stepped, closing a cursor
        if args and args[0] == _DEFERRED_BEGIN:
            self._holds_write_lock = False  # a new transaction, without the write lock
            return _INLINE  # a deferred BEGIN takes no lock until its first read
        if args and args[0] == _WRITE_LOCK:
            return _TRY_INLINE
        connection = self._connection
        if connection is None or not connection.in_transaction:
            self._holds_write_lock = False  # committed or rolled back since
            return _THREAD  # outside a transaction: connection set-up, PRAGMAs
        if self._holds_write_lock:
            return _INLINE
        return _TRY_INLINE if name == "execute" else _THREAD


def inline_connector(url: str, **connect_args: Any) -> Callable[[], InlineConnection]:
    """The ``async_creator`` for ``create_async_engine(url)``: one InlineConnection per call.

    The URL is read by SQLAlchemy's own dialect (file, ``:memory:``, ``uri=true``),
    so the connections open exactly what the URL names.
    """
    parsed = make_url(url)
    args, options = parsed.get_dialect()().create_connect_args(parsed)
    options = {**options, **connect_args, "check_same_thread": False}

    def connect() -> InlineConnection:
        connection = InlineConnection(partial(sqlite3.connect, *args, **options), 64)
        # As SQLAlchemy does for its own aiosqlite connections: a leaked one must
        # not keep the interpreter from exiting.
        connection._thread.daemon = True
        return connection

    return connect
