"""Every SQL statement and commit the process sends, for counting a request's round trips.

Listens on SQLAlchemy's ``Engine`` class, so it sees the service's async
engines (their sync core) as well as any test engine; each entry keeps the
statement and its parameters, so a query plan can be asked for afterwards.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, event


@dataclass
class Statement:
    """One statement as sent to the driver."""

    sql: str
    parameters: Any
    dialect: str

    @property
    def verb(self) -> str:
        """The statement's first keyword, upper-case (SELECT, INSERT, UPDATE …)."""
        return self.sql.lstrip().split(None, 1)[0].upper()


@dataclass
class StatementLog:
    """What was sent while the log was open."""

    statements: list[Statement] = field(default_factory=list)
    commits: int = 0

    def counts(self) -> Counter[str]:
        """Statements by verb, plus ``COMMIT`` for the commits."""
        counts = Counter(statement.verb for statement in self.statements)
        counts["COMMIT"] = self.commits
        return counts


@contextmanager
def statement_log() -> Iterator[StatementLog]:
    """Record every statement and commit until the block ends."""
    log = StatementLog()

    def on_execute(conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: Any) -> None:
        log.statements.append(Statement(sql, params, conn.dialect.name))

    def on_commit(conn: Any) -> None:
        log.commits += 1

    event.listen(Engine, "before_cursor_execute", on_execute)
    event.listen(Engine, "commit", on_commit)
    try:
        yield log
    finally:
        event.remove(Engine, "before_cursor_execute", on_execute)
        event.remove(Engine, "commit", on_commit)
