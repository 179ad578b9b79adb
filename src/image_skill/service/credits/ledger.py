"""The credit ledger: append-only rows, the audit truth of every balance.

Rows are never updated or deleted. A movement that must happen at most once
(the signup grant, the debit of one job) carries an ``idempotency_scope`` with
a unique constraint, so a retry can only ever add the row once. The database
keeps each account's rows summed in ``credit_accounts`` (a trigger on insert,
migration 0010), so a balance is one primary-key read however old the account
is (tests/service/test_credit_accounts.py checks it against the rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy import Table, TextClause, bindparam, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import TextualSelect

from image_skill.contract.ids import new_id, utc_now
from image_skill.service.db.credit_models import CreditAccount
from image_skill.service.db.insert_together import TableRows
from image_skill.service.db.models import CreditLedgerEntry
from image_skill.service.db.rows import insert_values

GRANT = "grant"
RESERVATION = "reservation"
DEBIT = "debit"
RELEASE = "release"
PURCHASE_GRANT = "purchase_grant"


async def grant_once(
    session: AsyncSession,
    *,
    organization_id: str,
    actor_id: str,
    amount: int,
    reason: str,
    scope: str,
    kind: str = GRANT,
    reference_id: str | None = None,
) -> CreditLedgerEntry:
    """Add credits exactly once per ``scope`` (returns the existing row on repeat)."""
    entry = await append_raw(
        session,
        organization_id=organization_id,
        actor_id=actor_id,
        kind=kind,
        amount=amount,
        reason=reason,
        scope=scope,
        reference_id=reference_id,
    )
    if entry is not None:
        return entry
    query = select(CreditLedgerEntry).where(CreditLedgerEntry.idempotency_scope == scope)
    return (await session.execute(query)).scalar_one()


async def append_raw(
    session: AsyncSession,
    *,
    organization_id: str,
    actor_id: str,
    kind: str,
    amount: int,
    reason: str,
    scope: str,
    job_id: str | None = None,
    reference_id: str | None = None,
) -> CreditLedgerEntry | None:
    """Append one row unless a row with ``scope`` exists (then nothing happens).

    One statement (``ON CONFLICT DO NOTHING``): a concurrent twin of the same scope
    cannot fail the transaction, and the trigger updates the account in it.
    """
    entry = CreditLedgerEntry(
        id=new_id("credit_event"),
        organization_id=organization_id,
        actor_id=actor_id,
        kind=kind,
        amount=amount,
        reason=reason,
        job_id=job_id,
        reference_id=reference_id,
        idempotency_scope=scope,
        created_at=utc_now(),
    )
    added = await append_all(session, [entry])
    return added[0] if added else None


async def append_all(
    session: AsyncSession, entries: list[CreditLedgerEntry]
) -> list[CreditLedgerEntry]:
    """Append several rows in one statement; a row whose scope exists already is skipped.

    Returns the rows added (the trigger has updated their accounts).
    """
    if not entries:
        return []
    await session.flush()  # the job row the entries point at goes first
    added: set[str] = set()
    for start in range(0, len(entries), _MOST_ROWS):
        chunk = entries[start : start + _MOST_ROWS]
        params = {
            f"{column.key}_{row}": getattr(entry, column.key)
            for row, entry in enumerate(chunk)
            for column in _COLUMNS
        }
        added.update((await session.execute(_skipping_taken_scopes(len(chunk)), params)).scalars())
    return [entry for entry in entries if entry.id in added]


def rows_of(entries: list[CreditLedgerEntry]) -> TableRows:
    """``entries`` for ``insert_together``: a row whose scope is taken is skipped."""
    return TableRows(_TABLE, [insert_values(entry) for entry in entries], skip_conflicts=True)


_TABLE: Table = CreditLedgerEntry.__table__  # type: ignore[assignment]
_COLUMNS = tuple(_TABLE.columns)
# Rows per statement: 1 and 2 are what jobs move; the bound keeps a statement's
# parameters far below SQLite's limit and the cache of statements small.
_MOST_ROWS = 50


@cache
def _skipping_taken_scopes(rows: int) -> TextualSelect:
    """The INSERT of ``rows`` ledger rows that skips a taken scope and returns the new ids.

    Text, with each parameter typed as its column (timestamps stored as SQLAlchemy
    stores them), and built once per row count: SQLAlchemy 2.0 cannot cache the
    compiled form of its dialects' ``on_conflict_do_nothing`` inserts, so one of those
    was compiled again for every movement. SQLite and PostgreSQL both read this SQL.
    """
    names = ", ".join(column.key for column in _COLUMNS)
    values = ", ".join(
        "(" + ", ".join(f":{column.key}_{row}" for column in _COLUMNS) + ")" for row in range(rows)
    )
    statement: TextClause = text(
        f"INSERT INTO {_TABLE.name} ({names}) VALUES {values} "
        f"ON CONFLICT ({_TABLE.c.idempotency_scope.key}) DO NOTHING RETURNING {_TABLE.c.id.key}"
    ).bindparams(
        *(
            bindparam(f"{column.key}_{row}", type_=column.type)
            for row in range(rows)
            for column in _COLUMNS
        )
    )
    return statement.columns(_TABLE.c.id)


async def balance(session: AsyncSession, actor_id: str) -> int:
    """Spendable credits: every grant minus debits and open reservations (one row read)."""
    total = await session.scalar(
        select(CreditAccount.balance).where(CreditAccount.actor_id == actor_id)
    )
    return int(total or 0)


@dataclass(frozen=True)
class Standing:
    """An account's credits as ``usage quota`` shows them."""

    balance: int
    reserved: int
    spent_today: int
    spent_total: int


async def standing(session: AsyncSession, actor_id: str, since: datetime) -> Standing:
    """Balance, credits held, and debited since ``since`` and ever, in one statement.

    The running figures are one row; today's debits come from the
    ``(actor_id, kind, created_at)`` index, so only today's rows are read.
    """
    account = select(CreditAccount).where(CreditAccount.actor_id == actor_id).subquery()
    today = (
        select(func.coalesce(func.sum(-CreditLedgerEntry.amount), 0))
        .where(
            CreditLedgerEntry.actor_id == actor_id,
            CreditLedgerEntry.kind == DEBIT,
            CreditLedgerEntry.created_at >= since,
        )
        .scalar_subquery()
    )
    query = select(
        select(account.c.balance).scalar_subquery(),
        select(account.c.reserved).scalar_subquery(),
        today,
        select(account.c.debited).scalar_subquery(),
    )
    row = (await session.execute(query)).one()
    return Standing(int(row[0] or 0), int(row[1] or 0), int(row[2] or 0), int(row[3] or 0))


async def granted_by_reason(session: AsyncSession, actor_id: str, reason: str) -> int:
    """Total credits granted to an actor for one reason (e.g. the free preview)."""
    total = await session.scalar(
        select(func.coalesce(func.sum(CreditLedgerEntry.amount), 0)).where(
            CreditLedgerEntry.actor_id == actor_id,
            CreditLedgerEntry.kind.in_((GRANT, PURCHASE_GRANT)),
            CreditLedgerEntry.reason == reason,
            CreditLedgerEntry.amount > 0,
        )
    )
    return int(total or 0)
