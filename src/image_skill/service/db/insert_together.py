"""Rows for several tables written in one statement on PostgreSQL.

A create's completion writes its assets, its activity events and their refs,
and the ledger's settlement; its admission writes the job, its order and the
reservation. Each statement is a round trip to PostgreSQL (a fraction of a
millisecond of waiting, and of this process's CPU to send and read it), and the
request waits for all of them. Here each table's rows travel as one JSON
parameter, unpacked by ``json_populate_recordset`` inside a data-modifying CTE,
and all the tables go in one statement. Its constraints are checked as the
statement ends, so a row may point at a row of another part; its triggers (the
ledger's running balance) run as for any insert. A JSON column's value travels
as its own JSON text inside that parameter and is parsed back by the statement:
``json_populate_recordset`` refuses a ``\u0000`` escape anywhere in what it
unpacks, which a ``json`` column itself stores.

SQLite, in this process with no round trip to save, gets one executemany per
table, in the order given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson
from sqlalchemy import JSON, Column, Executable, String, Table, TextClause, bindparam, insert, text
from sqlalchemy.ext.asyncio import AsyncSession

# As SQLAlchemy's JSON columns write them (``json.dumps``): a naive datetime is UTC here,
# a dict key that is not a string is written as one.
_JSON_OPTIONS = orjson.OPT_NAIVE_UTC | orjson.OPT_NON_STR_KEYS


@dataclass(frozen=True)
class TableRows:
    """Rows for one table; with ``skip_conflicts`` a row that would break a unique
    constraint is left out (``ON CONFLICT DO NOTHING``), the others are written."""

    table: Table
    rows: list[dict[str, Any]]
    skip_conflicts: bool = False


async def insert_together(session: AsyncSession, parts: Sequence[TableRows]) -> None:
    """Write every part's rows in ``session``'s transaction (see the module docstring).

    A column a row lacks gets its Python default, else the database's when no row
    of the part gives it, else NULL.
    """
    parts = [part for part in parts if part.rows]
    if not parts:
        return
    if session.new or session.dirty or session.deleted:
        await session.flush()  # rows added to the session go first: these may name them
    if session.get_bind().dialect.name != "postgresql":
        for part in parts:
            columns = _columns_of(part)
            rows = [_complete(row, columns) for row in part.rows]
            await session.execute(_one_table(part.table, columns, part.skip_conflicts), rows)
        return
    shapes = tuple((part.table, _columns_of(part), part.skip_conflicts) for part in parts)
    params = {
        f"rows_{index}": _json(
            [_with_json_as_text(_complete(row, columns), columns) for row in part.rows]
        )
        for index, (part, (_, columns, _)) in enumerate(zip(parts, shapes, strict=True))
    }
    await session.execute(_all_tables(shapes), params)


def _json(value: Any) -> str:
    return orjson.dumps(value, option=_JSON_OPTIONS).decode()


def _with_json_as_text(row: dict[str, Any], columns: tuple[Column[Any], ...]) -> dict[str, Any]:
    """``row`` with each JSON column's value as its JSON text (see the module docstring)."""
    keys = _json_keys(columns)
    if not keys:
        return row
    return {
        key: _json(value) if key in keys and value is not None else value
        for key, value in row.items()
    }


@cache
def _json_keys(columns: tuple[Column[Any], ...]) -> frozenset[str]:
    return frozenset(column.key for column in columns if isinstance(column.type, JSON))


def _columns_of(part: TableRows) -> tuple[Column[Any], ...]:
    """The columns some row gives or that have a Python default, in the table's order
    (the statement's cache key); the others are left to the database's defaults."""
    first = part.rows[0].keys()
    if all(row.keys() == first for row in part.rows[1:]):
        return _columns_given(part.table, tuple(first))  # rows alike (the usual case)
    return _columns_given(part.table, tuple(sorted(set().union(*part.rows))))


@cache
def _columns_given(table: Table, keys: tuple[str, ...]) -> tuple[Column[Any], ...]:
    given = set(keys)
    unknown = given - set(table.c.keys())
    if unknown:
        raise ValueError(f"{table.name} has no columns {sorted(unknown)}")
    renamed = [column.key for column in table.columns if column.key != column.name]
    if renamed:  # rows are keyed by attribute, the JSON by column name: keep them one
        raise ValueError(f"{table.name} renames columns {renamed}")
    return tuple(
        column
        for column in table.columns
        if column.key in given or (column.default is not None and column.default.is_scalar)
    )


def _complete(row: dict[str, Any], columns: tuple[Column[Any], ...]) -> dict[str, Any]:
    """``row`` with each of ``columns`` it lacks set to the column's Python default or None."""
    if len(row) == len(columns):
        return row
    full = dict(row)
    for column in columns:
        if column.key not in full:
            default = column.default
            scalar = default is not None and default.is_scalar
            full[column.key] = getattr(default, "arg", None) if scalar else None
    return full


@cache
def _one_table(table: Table, columns: tuple[Column[Any], ...], skip_conflicts: bool) -> Executable:
    """One table's INSERT for executemany, built once per table and column set."""
    if not skip_conflicts:
        return insert(table)
    names = ", ".join(_quoted(column.key) for column in columns)
    values = ", ".join(f":{column.key}" for column in columns)
    return text(
        f"INSERT INTO {_quoted(table.name)} ({names}) VALUES ({values}) ON CONFLICT DO NOTHING"
    ).bindparams(*(bindparam(column.key, type_=column.type) for column in columns))


@cache
def _all_tables(shapes: tuple[tuple[Table, tuple[Column[Any], ...], bool], ...]) -> TextClause:
    """PostgreSQL's one statement for parts of these shapes, built once per shape.

    Each part waits for the one before it (it counts the rows that one returned
    before writing its own), so the tables are written, and their AFTER triggers
    queued, in the order given, as separate statements would: left to itself
    PostgreSQL runs a WITH's inserts in an order of its own, and an admission that
    moved the balance before the day's job count deadlocked with a failing job's
    end, which moves them the other way round.
    """
    inserts = []
    for index, (table, columns, skip_conflicts) in enumerate(shapes):
        names = ", ".join(_quoted(column.key) for column in columns)
        values = ", ".join(
            # A JSON column arrives as a JSON string holding its text: parse that text.
            f"CAST({_quoted(column.key)} #>> '{{}}' AS json)"
            if column.key in _json_keys(columns)
            else _quoted(column.key)
            for column in columns
        )
        rows = f"CAST(:rows_{index} AS json)"
        source = f"json_populate_recordset(NULL::{_quoted(table.name)}, {rows})"
        after = f" WHERE (SELECT count(*) FROM part_{index - 1}) >= 0" if index else ""
        conflict = " ON CONFLICT DO NOTHING" if skip_conflicts else ""
        inserts.append(
            f"part_{index} AS (INSERT INTO {_quoted(table.name)} ({names}) "
            f"SELECT {values} FROM {source}{after}{conflict} RETURNING 1)"
        )
    statement = text(f"WITH {', '.join(inserts)} SELECT count(*) FROM part_{len(shapes) - 1}")
    return statement.bindparams(
        *(bindparam(f"rows_{index}", type_=String()) for index in range(len(shapes)))
    )


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
