"""SQLite connections that leave the driver's thread only for steps that can wait.

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
until its first read). What can wait for another connection's lock
(``BEGIN IMMEDIATE`` itself, up to the busy timeout, and the statements of a
transaction that does not hold the write lock) still runs on the driver's
thread, so a busy database never stalls the loop.

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

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._sent == self._ended and self._runs_inline(fn, args):
            if not self._running or self._connection is None:
                raise ValueError("Connection closed")
            return fn(*args, **kwargs)
        self._sent += 1
        result = await super()._execute(self._counted, partial(fn, *args, **kwargs))
        if args and args[0] == _WRITE_LOCK:  # as db.engine's "begin" listener sends it
            self._holds_write_lock = True
        return result

    def _counted(self, call: Callable[[], Any]) -> Any:
        """Run on the driver's thread; the count drops when the call ends, awaited or not."""
        try:
            return call()
        finally:
            self._ended += 1

    def _runs_inline(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> bool:
        owner = getattr(fn, "__self__", None)
        name = getattr(fn, "__name__", "")
        if isinstance(owner, sqlite3.Connection):
            if name in _TRANSACTION_ENDS:
                self._holds_write_lock = False
            return name in _CONNECTION_CALLS
        if not isinstance(owner, sqlite3.Cursor):
            return False
        if name not in _STATEMENT_CALLS:
            return True  # fetching rows already stepped, closing a cursor
        if args and args[0] == _DEFERRED_BEGIN:
            self._holds_write_lock = False  # a new transaction, without the write lock
            return True  # a deferred BEGIN takes no lock until its first read
        if self._holds_write_lock and self._connection is not None:
            if self._connection.in_transaction:
                return True
            self._holds_write_lock = False  # committed or rolled back since
        return False


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
