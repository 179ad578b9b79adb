"""The running balance (``credit_accounts``) always equals the ledger's sums.

Migration 0010 backfills it from an existing ledger, and the ledger's trigger
keeps it in step with every insert: here many writers append at once through
``ledger.append_raw`` (some with the same scope, which must add nothing) on
their own connections, without the per-account lock admission takes, so only
the database's own row locking (PostgreSQL) or single writer (SQLite) keeps
the figures right. The service's bursts (test_ledger_concurrency.py) check the
same equality through ``audit_account`` after hundreds of concurrent creates.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session

from image_skill.contract.ids import new_id, utc_now
from image_skill.service.credits import ledger
from image_skill.service.db.credit_models import CreditAccount
from image_skill.service.db.engine import create_engine_for, session_scope
from image_skill.service.db.migrate import alembic_config, upgrade_to_head
from image_skill.service.db.models import CreditLedgerEntry
from image_skill.service.settings import Settings, to_sync_url
from tests.support.ledger import new_account

WRITERS = 40


def _settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, home=tmp_path / "home", environment="test")


def _running(db: Engine, actor_id: str) -> tuple[int, int, int]:
    with Session(db) as session:
        account = session.get(CreditAccount, actor_id)
        return (account.balance, account.reserved, account.debited) if account else (0, 0, 0)


def _summed(db: Engine, actor_id: str) -> tuple[int, int, int]:
    with Session(db) as session:
        rows = session.execute(
            select(CreditLedgerEntry.kind, CreditLedgerEntry.amount).where(
                CreditLedgerEntry.actor_id == actor_id
            )
        ).all()
    held = -sum(amount for kind, amount in rows if kind in (ledger.RESERVATION, ledger.RELEASE))
    debited = -sum(amount for kind, amount in rows if kind == ledger.DEBIT)
    return sum(amount for _kind, amount in rows), held, debited


def test_migration_backfills_balances_from_the_ledger(
    database_url: str, tmp_path: Path, db: Engine
) -> None:
    settings = _settings(database_url, tmp_path)
    config = alembic_config(to_sync_url(settings.resolved_database_url))
    command.upgrade(config, "0009_console")  # type: ignore[arg-type]
    org_id, actor_id = new_account(db)
    _, idle_actor = new_account(db)
    now = utc_now()
    moves = [
        (ledger.GRANT, 50),
        (ledger.RESERVATION, -7),
        (ledger.RELEASE, 7),
        (ledger.DEBIT, -7),
        (ledger.RESERVATION, -3),
        (ledger.PURCHASE_GRANT, 500),
    ]
    rows = [
        {
            "id": new_id("credit_event"),
            "organization_id": org_id,
            "actor_id": actor_id,
            "kind": kind,
            "amount": amount,
            "reason": "backfill",
            "idempotency_scope": f"backfill:{index}",
            "created_at": now,
        }
        for index, (kind, amount) in enumerate(moves)
    ]
    with db.begin() as conn:
        conn.execute(insert(CreditLedgerEntry), rows)
    upgrade_to_head(settings)
    assert _running(db, actor_id) == _summed(db, actor_id) == (540, 3, 7)
    assert _running(db, idle_actor) == (0, 0, 0)
    with Session(db) as session:
        assert session.get(CreditAccount, idle_actor) is None


def test_concurrent_appends_keep_the_running_balance_equal_to_the_ledger(
    database_url: str, tmp_path: Path, db: Engine
) -> None:
    settings = _settings(database_url, tmp_path)
    upgrade_to_head(settings)
    org_id, actor_id = new_account(db)

    async def append(index: int) -> bool:
        # Every pair of writers shares a scope: exactly one of each pair may add its row.
        kind, amount = ((ledger.GRANT, 10), (ledger.RESERVATION, -3), (ledger.DEBIT, -2))[
            index // 2 % 3
        ]
        async with session_scope(engine, write=True) as session:
            entry = await ledger.append_raw(
                session,
                organization_id=org_id,
                actor_id=actor_id,
                kind=kind,
                amount=amount,
                reason="concurrency",
                scope=f"pair:{index // 2}",
            )
        return entry is not None

    async def burst() -> list[bool]:
        try:
            return await asyncio.gather(*(append(index) for index in range(WRITERS)))
        finally:
            await engine.dispose()

    engine = create_engine_for(settings)
    added = asyncio.run(burst())
    with Session(db) as session:
        rows = session.scalars(
            select(CreditLedgerEntry.idempotency_scope).where(
                CreditLedgerEntry.actor_id == actor_id
            )
        ).all()
    assert len(rows) == len(set(rows)) == sum(added)
    assert sum(added) == WRITERS // 2
    assert _running(db, actor_id) == _summed(db, actor_id)
    assert _running(db, actor_id)[0] != 0
