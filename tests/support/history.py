"""An old account in one go: thousands of past completed jobs and their ledger rows.

Rows are bulk-inserted (one executemany per table) straight into the database,
shaped as the service writes them: a completed ``local.sketch`` create per job,
before today, with its reservation, release and debit, funded by one grant, so
the ledger audit holds and the running balance (kept by the ledger's trigger)
moves as it would have. PostgreSQL's planner statistics are refreshed after.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, insert, text

from image_skill.contract.ids import new_id, utc_now
from image_skill.service.credits import ledger
from image_skill.service.db.models import CreditLedgerEntry, Job

PRICE = 1


def add_history(
    db: Engine, organization_id: str, actor_id: str, jobs: int, *, credits: int = 0
) -> None:
    """Give ``actor_id`` ``jobs`` completed creates spread over the days before today,
    and ``credits`` to spend on top of what they cost."""
    start = utc_now().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    job_rows: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = [
        _entry(organization_id, actor_id, None, ledger.GRANT, jobs * PRICE + credits, "", start)
    ]
    for index in range(jobs):
        when = start - timedelta(minutes=index)
        job_id = new_id("job")
        job_rows.append(_job(organization_id, actor_id, job_id, when))
        for kind, amount, verb in (
            (ledger.RESERVATION, -PRICE, "reserve"),
            (ledger.RELEASE, PRICE, "release"),
            (ledger.DEBIT, -PRICE, "debit"),
        ):
            entries.append(
                _entry(organization_id, actor_id, job_id, kind, amount, f"{verb}:{job_id}", when)
            )
    with db.begin() as conn:
        if job_rows:
            conn.execute(insert(Job), job_rows)
        conn.execute(insert(CreditLedgerEntry), entries)
    if db.dialect.name == "postgresql":
        with db.connect() as conn:
            conn.execute(text("ANALYZE jobs"))
            conn.execute(text("ANALYZE credit_ledger_entries"))
            conn.commit()


def _job(organization_id: str, actor_id: str, job_id: str, when: Any) -> dict[str, Any]:
    return {
        "id": job_id,
        "organization_id": organization_id,
        "actor_id": actor_id,
        "operation": "create",
        "status": "completed",
        "capability_id": "is.image.generate.preview.v1",
        "model_id": "local.sketch",
        "provider": "local",
        "parameters": {},
        "trace_id": "trace_0000000000000000",
        "credits_reserved": PRICE,
        "credits_debited": PRICE,
        "safety_status": "allowed",
        "attempts": 1,
        "queued_at": when,
        "created_at": when,
        "started_at": when,
        "completed_at": when,
        "updated_at": when,
    }


def _entry(
    organization_id: str,
    actor_id: str,
    job_id: str | None,
    kind: str,
    amount: int,
    scope: str,
    when: Any,
) -> dict[str, Any]:
    reasons = {
        ledger.GRANT: "operator_grant",
        ledger.RESERVATION: "job_reservation",
        ledger.RELEASE: "job_settled",
        ledger.DEBIT: "job_debit",
    }
    return {
        "id": new_id("credit_event"),
        "organization_id": organization_id,
        "actor_id": actor_id,
        "kind": kind,
        "amount": amount,
        "reason": reasons[kind],
        "job_id": job_id,
        "reference_id": None,
        "idempotency_scope": scope if job_id else f"history:{actor_id}",
        "created_at": when,
    }
