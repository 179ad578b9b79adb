"""``db.insert_together``: several tables' rows in one statement (PostgreSQL) or one per
table (SQLite), and either way the rows read back exactly as the ORM would write them.

Timestamps to the microsecond, floats to the last bit, JSON values (and a Python
``None`` in a JSON column), Python defaults for columns a row leaves out, a row
pointing at a row of another part of the same call, a taken ledger scope skipped
with its neighbours still written (and the running balance moved by the ledger's
trigger), a failing part leaving nothing of the others, and text a client could send
(quotes, SQL, separators, astral characters, a megabyte) unchanged.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, Table, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from image_skill.contract.ids import new_id
from image_skill.service.credits import ledger
from image_skill.service.db.credit_models import CreditAccount
from image_skill.service.db.engine import create_engine_for, session_scope
from image_skill.service.db.insert_together import TableRows, insert_together
from image_skill.service.db.job_models import JobOrder
from image_skill.service.db.migrate import upgrade_to_head
from image_skill.service.db.models import Asset, CreditLedgerEntry, Job
from image_skill.service.db.rows import insert_values
from image_skill.service.settings import Settings
from tests.support.ledger import new_account
from tests.support.statements import statement_log

WHEN = datetime(2026, 12, 6, 8, 30, 15, 123456, tzinfo=UTC)
JOBS: Table = Job.__table__  # type: ignore[assignment]
ORDERS: Table = JobOrder.__table__  # type: ignore[assignment]
ASSETS: Table = Asset.__table__  # type: ignore[assignment]


def _write(settings: Settings, parts: list[TableRows]) -> int:
    """Run ``insert_together`` in one transaction; the writing statements it sent."""

    async def run() -> int:
        engine = create_engine_for(settings)
        try:
            with statement_log() as log:
                async with session_scope(engine, write=True) as session:
                    await insert_together(session, parts)
            return sum(s.verb in ("INSERT", "WITH") for s in log.statements)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _job(org_id: str, actor_id: str, **values: Any) -> Job:
    fields: dict[str, Any] = {
        "id": new_id("job"),
        "organization_id": org_id,
        "actor_id": actor_id,
        "operation": "create",
        "status": "queued",
        "trace_id": "trace_x",
        "estimated_usd": 0.1 + 0.2,
        "parameters": {"long_edge": 64, "nested": {"a": [1, "two", None]}},
        "created_at": WHEN,
        "updated_at": WHEN,
    }
    return Job(**(fields | values))


def _entry(org_id: str, actor_id: str, job_id: str, kind: str, amount: int) -> CreditLedgerEntry:
    return CreditLedgerEntry(
        id=new_id("credit_event"),
        organization_id=org_id,
        actor_id=actor_id,
        kind=kind,
        amount=amount,
        reason="job_reservation",
        job_id=job_id,
        idempotency_scope=f"{kind}:{job_id}",
        created_at=WHEN,
    )


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    ready = Settings(database_url=database_url, home=tmp_path / "home", environment="test")
    upgrade_to_head(ready)
    return ready


def test_rows_of_several_tables_read_back_as_written(settings: Settings, db: Engine) -> None:
    org_id, actor_id = new_account(db, "together")
    job = _job(org_id, actor_id)
    bare = _job(org_id, actor_id, parameters=None)  # a JSON column's None; defaults unset
    order = JobOrder(job_id=job.id, payload={"prompt": "a red kite"}, created_at=WHEN)
    reservation = _entry(org_id, actor_id, job.id, ledger.RESERVATION, -3)
    parts = [
        TableRows(JOBS, [insert_values(job), insert_values(bare)]),
        TableRows(ORDERS, [insert_values(order)]),  # points at a job of the same call
        ledger.rows_of([reservation]),
    ]
    statements = _write(settings, parts)
    assert statements == (1 if db.dialect.name == "postgresql" else 3)
    with Session(db) as session:
        stored = session.get(Job, job.id)
        assert stored is not None
        # SQLite hands timestamps back without their zone (stored in UTC).
        assert {_utc(stored.created_at), _utc(stored.updated_at)} == {WHEN}
        assert stored.estimated_usd == 0.1 + 0.2
        assert stored.parameters == {"long_edge": 64, "nested": {"a": [1, "two", None]}}
        # Python defaults, as a flush would have written them.
        assert (stored.credits_reserved, stored.safety_status, stored.attempts) == (0, "allowed", 0)
        bare_row = session.get(Job, bare.id)
        assert bare_row is not None and bare_row.parameters is None
        stored_order = session.get(JobOrder, job.id)
        assert stored_order is not None and stored_order.payload == {"prompt": "a red kite"}
        account = session.get(CreditAccount, actor_id)
        assert account is not None and (account.balance, account.reserved) == (-3, 3)


# Text a client can put in a prompt or a model parameter: quotes and backslashes that
# a hand-built JSON or SQL string would break on, SQL itself, line and paragraph
# separators, right-to-left marks, astral characters, and a 1 MB string.
AWKWARD = [
    "\"quoted\" and \\backslashed\\ and 'single'",
    "'); DROP TABLE jobs; --",
    "line\nbreak\ttab \u2028 \u2029 \u202e\u202d",
    "emoji \U0001f600 and \U00010348",
    "x" * 1_000_000,
]


def test_awkward_text_reads_back_unchanged(settings: Settings, db: Engine) -> None:
    org_id, actor_id = new_account(db, "awkward")
    jobs = [_job(org_id, actor_id, parameters={"text": text, text[:40]: 1}) for text in AWKWARD]
    orders = [
        JobOrder(job_id=job.id, payload={"prompt": text}, created_at=WHEN)
        for job, text in zip(jobs, AWKWARD, strict=True)
    ]
    # A JSON column keeps a NUL as its escape (the API refuses one before this).
    orders[0].payload = {"prompt": "nul \u0000 inside"}
    _write(
        settings,
        [
            TableRows(JOBS, [insert_values(job) for job in jobs]),
            TableRows(ORDERS, [insert_values(order) for order in orders]),
        ],
    )
    with Session(db) as session:
        for job, order, text in zip(jobs, orders, AWKWARD, strict=True):
            stored = session.get(Job, job.id)
            assert stored is not None and stored.parameters == {"text": text, text[:40]: 1}
            stored_order = session.get(JobOrder, job.id)
            assert stored_order is not None and stored_order.payload == order.payload
        assert session.scalar(select(func.count()).select_from(Job)) == len(AWKWARD)


def test_a_taken_scope_is_skipped_and_the_rest_written(settings: Settings, db: Engine) -> None:
    org_id, actor_id = new_account(db, "scopes")
    job = _job(org_id, actor_id)
    _write(settings, [TableRows(JOBS, [insert_values(job)])])
    first = _entry(org_id, actor_id, job.id, ledger.RESERVATION, -2)
    _write(settings, [ledger.rows_of([first])])
    again = _entry(org_id, actor_id, job.id, ledger.RESERVATION, -2)  # the same scope
    debit = _entry(org_id, actor_id, job.id, ledger.DEBIT, -2)
    _write(settings, [ledger.rows_of([again, debit])])
    with Session(db) as session:
        kept = session.scalars(
            select(CreditLedgerEntry.id).where(CreditLedgerEntry.actor_id == actor_id)
        ).all()
        assert sorted(kept) == sorted([first.id, debit.id])
        account = session.get(CreditAccount, actor_id)
        assert account is not None and account.balance == -4


def test_a_failing_part_leaves_nothing_of_the_others(settings: Settings, db: Engine) -> None:
    org_id, actor_id = new_account(db, "atomic")
    job = _job(org_id, actor_id)
    orphan = Asset(
        id=new_id("asset"),
        organization_id=org_id,
        actor_id=actor_id,
        job_id="job_that_does_not_exist",
        kind="output",
        mime_type="image/png",
        extension="png",
        width=1,
        height=1,
        content_length=1,
        sha256="0" * 64,
        storage_key="k",
        created_at=WHEN,
    )
    parts = [
        TableRows(JOBS, [insert_values(job)]),
        TableRows(ASSETS, [insert_values(orphan)]),
        ledger.rows_of([_entry(org_id, actor_id, job.id, ledger.RESERVATION, -1)]),
    ]
    with pytest.raises(IntegrityError):
        _write(settings, parts)
    with Session(db) as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 0
        assert session.get(CreditAccount, actor_id) is None or (
            session.get(CreditAccount, actor_id).balance == 0  # type: ignore[union-attr]
        )


def test_a_column_the_table_lacks_is_refused_before_anything_is_sent(
    settings: Settings, db: Engine
) -> None:
    org_id, actor_id = new_account(db, "unknown")
    row = insert_values(_job(org_id, actor_id)) | {"prompt": "must not be a column"}
    with pytest.raises(ValueError, match="prompt"):
        _write(settings, [TableRows(JOBS, [row])])


def test_postgresql_writes_the_parts_in_the_order_given(settings: Settings, db: Engine) -> None:
    """The tables' AFTER triggers fire in the parts' order, as separate statements' would
    (the ledger's balance after the day's job count: the order every path keeps)."""
    if db.dialect.name != "postgresql":
        pytest.skip("SQLite runs one statement per part, in order")
    with db.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE write_order (n serial, tbl text)")
        conn.exec_driver_sql(
            "CREATE FUNCTION note_write() RETURNS trigger LANGUAGE plpgsql AS "
            "$$BEGIN INSERT INTO write_order (tbl) VALUES (TG_TABLE_NAME); RETURN NULL; END$$"
        )
        for table in ("jobs", "job_orders", "credit_ledger_entries"):
            conn.exec_driver_sql(
                f"CREATE TRIGGER note_{table} AFTER INSERT ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION note_write()"
            )
    org_id, actor_id = new_account(db, "order")
    job = _job(org_id, actor_id)
    order = JobOrder(job_id=job.id, payload={"prompt": "p"}, created_at=WHEN)
    _write(
        settings,
        [
            TableRows(JOBS, [insert_values(job)]),
            TableRows(ORDERS, [insert_values(order)]),
            ledger.rows_of([_entry(org_id, actor_id, job.id, ledger.RESERVATION, -1)]),
        ],
    )
    with db.connect() as conn:
        written = conn.exec_driver_sql("SELECT tbl FROM write_order ORDER BY n").scalars().all()
    assert written == ["jobs", "job_orders", "credit_ledger_entries"]
