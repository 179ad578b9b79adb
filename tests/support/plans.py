"""How much of a table a recorded statement reads, asked of the database's planner.

PostgreSQL: ``EXPLAIN (ANALYZE, FORMAT JSON)`` of the statement with its own
parameters, in a transaction rolled back afterwards, summing the rows each
scan of a named table produced or filtered out (times its loops): the rows it
actually touched. SQLite has no such count, so its ``EXPLAIN QUERY PLAN`` is
read instead: a table is either scanned whole (``SCAN``) or searched through an
index, and the search names the index columns it is bounded by.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Engine

from tests.support.statements import Statement

EXPLAINED = ("SELECT", "UPDATE", "DELETE")


def rows_touched(db: Engine, statement: Statement, tables: tuple[str, ...]) -> int:
    """Rows of ``tables`` the statement read on PostgreSQL (0 for what is not explained)."""
    if statement.verb not in EXPLAINED:
        return 0
    sql, parameters = _for_psycopg(statement)
    with db.connect() as conn:
        plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, parameters)
        found = plan.scalar_one()
        conn.rollback()
    return _touched(found[0]["Plan"], tables)


def _for_psycopg(statement: Statement) -> tuple[str, Any]:
    """The statement as the test's psycopg engine takes it: the service sends its own
    through asyncpg, whose numbered ``$1`` placeholders (one may appear twice) become
    named ones, and a literal ``%`` is escaped."""
    if not isinstance(statement.parameters, tuple | list):
        return statement.sql, statement.parameters
    sql = re.sub(r"\$(\d+)", r"%(p\1)s", statement.sql.replace("%", "%%"))
    return sql, {f"p{i}": value for i, value in enumerate(statement.parameters, start=1)}


def _touched(node: dict[str, Any], tables: tuple[str, ...]) -> int:
    total = 0
    if node.get("Relation Name") in tables:
        read = node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)
        read += node.get("Rows Removed by Index Recheck", 0)
        total += int(read * node.get("Actual Loops", 1))
    for child in node.get("Plans", []):
        total += _touched(child, tables)
    return total


def sqlite_plan(db: Engine, statement: Statement) -> list[str]:
    """The SQLite query plan's lines (empty for what is not explained)."""
    if statement.verb not in EXPLAINED:
        return []
    with db.connect() as conn:
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement.sql, statement.parameters)
        return [str(row[-1]) for row in rows]
