"""An auditor for one account's credit ledger, read straight from the database.

The ledger is append-only and a balance is a sum, so every claim about money
can be checked from the rows alone. ``audit_account`` reads the actor's ledger
rows and jobs through a synchronous engine and lists every broken invariant;
``assert_settled`` additionally demands that no job is still in flight.
``ledger_rows`` and ``ledger_sum`` read one job's rows and one balance;
``new_account`` writes a bare organization and agent to hang rows on.

Invariants (``c`` is a job's ``credits_reserved``):
  * every row has a known kind and the sign of that kind, and belongs to the
    actor's organization;
  * job rows carry the scope of their kind (``reserve:``/``release:``/``debit:``
    plus the job id) and point at an existing job of the same actor;
  * a job that reserved ``c > 0`` has exactly one reservation of ``-c``; a
    finished job has exactly one release of ``+c``; a completed job exactly one
    debit of ``-c`` and ``credits_debited == c``; a failed or canceled job no debit;
  * a job that reserved nothing has no ledger rows at all;
  * the balance (the sum) is never negative and equals credits in (grants and
    purchase grants) minus debits minus what running jobs still hold;
  * the running account (``credit_accounts``, kept by a trigger) equals the
    rows' sums: balance, credits held and credits debited;
  * the daily job counts (``daily_job_counts``, kept by triggers) equal a count
    of the actor's create and edit jobs queued, running or completed, per UTC day.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, func, insert, select
from sqlalchemy.orm import Session

from image_skill.contract.ids import new_id, utc_now
from image_skill.service.credits import ledger
from image_skill.service.db.credit_models import CreditAccount
from image_skill.service.db.models import Actor, CreditLedgerEntry, Job, Organization
from image_skill.service.db.quota_models import DailyJobCount
from image_skill.service.quota.repository import day_key

CREDIT_IN = (ledger.GRANT, ledger.PURCHASE_GRANT)
POSITIVE = (*CREDIT_IN, ledger.RELEASE)
NEGATIVE = (ledger.RESERVATION, ledger.DEBIT)
COUNTED_STATUSES = ("queued", "running", "completed")
SCOPE_PREFIX = {ledger.RESERVATION: "reserve", ledger.RELEASE: "release", ledger.DEBIT: "debit"}


@dataclass
class Audit:
    """What the ledger of one actor says, and what is wrong with it."""

    actor_id: str
    balance: int = 0
    credits_in: int = 0
    debited: int = 0
    held: int = 0
    rows_by_kind: Counter[str] = field(default_factory=Counter)
    jobs_by_status: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    debited_jobs: set[str] = field(default_factory=set)
    released_jobs: set[str] = field(default_factory=set)
    problems: list[str] = field(default_factory=list)

    def jobs(self, status: str) -> set[str]:
        """Ids of the actor's jobs in ``status``."""
        return set(self.jobs_by_status.get(status, set()))

    def check(self) -> None:
        """Fail with every problem found."""
        assert not self.problems, "ledger invariants broken:\n  " + "\n  ".join(self.problems)


def audit_account(engine: Engine, actor_id: str) -> Audit:
    """Read and check the ledger and jobs of ``actor_id``."""
    audit = Audit(actor_id)
    problem = audit.problems.append
    with Session(engine) as session:
        actor = session.get(Actor, actor_id)
        assert actor is not None, f"no actor {actor_id}"
        rows = list(
            session.execute(
                select(CreditLedgerEntry)
                .where(CreditLedgerEntry.actor_id == actor_id)
                .order_by(CreditLedgerEntry.created_at, CreditLedgerEntry.id)
            ).scalars()
        )
        jobs = {
            job.id: job
            for job in session.execute(select(Job).where(Job.actor_id == actor_id)).scalars()
        }
        account = session.get(CreditAccount, actor_id)
        kept_days = {
            day: count
            for day, count in session.execute(
                select(DailyJobCount.day, DailyJobCount.jobs).where(
                    DailyJobCount.actor_id == actor_id
                )
            ).all()
            if count
        }
        scopes = Counter(
            session.execute(
                select(CreditLedgerEntry.idempotency_scope).where(
                    CreditLedgerEntry.idempotency_scope.is_not(None)
                )
            ).scalars()
        )
    for scope, count in scopes.items():
        if count > 1:
            problem(f"scope {scope} used by {count} rows")

    per_job: dict[str, list[CreditLedgerEntry]] = defaultdict(list)
    for row in rows:
        audit.rows_by_kind[row.kind] += 1
        audit.balance += row.amount
        if row.organization_id != actor.organization_id:
            problem(f"{row.id}: organization {row.organization_id} is not the actor's")
        if row.kind in POSITIVE and row.amount <= 0:
            problem(f"{row.id}: {row.kind} of {row.amount} (must be > 0)")
        elif row.kind in NEGATIVE and row.amount >= 0:
            problem(f"{row.id}: {row.kind} of {row.amount} (must be < 0)")
        elif row.kind not in (*POSITIVE, *NEGATIVE):
            problem(f"{row.id}: unknown kind {row.kind!r}")
        if row.kind in CREDIT_IN:
            audit.credits_in += row.amount
        if row.kind == ledger.DEBIT:
            audit.debited -= row.amount
        if row.kind in SCOPE_PREFIX:
            expected = f"{SCOPE_PREFIX[row.kind]}:{row.job_id}"
            if row.job_id is None or row.idempotency_scope != expected:
                problem(f"{row.id}: {row.kind} scope {row.idempotency_scope!r} != {expected!r}")
            if row.job_id not in jobs:
                problem(f"{row.id}: {row.kind} for {row.job_id}, not a job of this actor")
        if row.job_id is not None:
            per_job[row.job_id].append(row)

    for job_id, job in jobs.items():
        audit.jobs_by_status[job.status].add(job_id)
        kinds = Counter(row.kind for row in per_job.get(job_id, []))
        amounts = {row.kind: row.amount for row in per_job.get(job_id, [])}
        held = job.credits_reserved
        if ledger.DEBIT in kinds:
            audit.debited_jobs.add(job_id)
        if ledger.RELEASE in kinds:
            audit.released_jobs.add(job_id)
        if held <= 0:
            if kinds:
                problem(f"{job_id}: reserved nothing but has ledger rows {dict(kinds)}")
            continue
        if kinds[ledger.RESERVATION] != 1 or amounts.get(ledger.RESERVATION) != -held:
            problem(f"{job_id}: needs one reservation of {-held}, has {_rows(per_job[job_id])}")
        finished = job.status in ("completed", "failed", "canceled")
        want_release = 1 if finished else 0
        if kinds[ledger.RELEASE] != want_release or (
            finished and amounts.get(ledger.RELEASE) != held
        ):
            problem(
                f"{job_id} ({job.status}): needs {want_release} release of {held}, "
                f"has {_rows(per_job[job_id])}"
            )
        want_debit = 1 if job.status == "completed" else 0
        if kinds[ledger.DEBIT] != want_debit or (want_debit and amounts.get(ledger.DEBIT) != -held):
            problem(
                f"{job_id} ({job.status}): needs {want_debit} debit of {-held}, "
                f"has {_rows(per_job[job_id])}"
            )
        debited = held if job.status == "completed" else 0
        if job.credits_debited != debited:
            problem(f"{job_id} ({job.status}): credits_debited {job.credits_debited} != {debited}")
        if not finished:
            audit.held += held

    held_rows = -sum(row.amount for row in rows if row.kind in (ledger.RESERVATION, ledger.RELEASE))
    summed = (audit.balance, held_rows, audit.debited)
    running = (account.balance, account.reserved, account.debited) if account else (0, 0, 0)
    if running != summed:
        problem(f"credit_accounts (balance, reserved, debited) {running} != ledger sums {summed}")
    counted_days = daily_job_counts(jobs.values())
    if kept_days != counted_days:
        problem(f"daily_job_counts {kept_days} != jobs counted per day {counted_days}")
    if audit.balance < 0:
        problem(f"negative balance {audit.balance}")
    if audit.balance != audit.credits_in - audit.debited - audit.held:
        problem(
            f"balance {audit.balance} != in {audit.credits_in} - debited {audit.debited} "
            f"- held {audit.held}"
        )
    return audit


def daily_job_counts(jobs: Iterable[Job]) -> dict[str, int]:
    """The jobs that count against each UTC day's cap (what ``daily_job_counts`` keeps)."""
    counted: Counter[str] = Counter()
    for job in jobs:
        if job.operation in ("create", "edit") and job.status in COUNTED_STATUSES:
            # SQLite gives the UTC timestamps back without their zone.
            created = job.created_at
            counted[day_key(created if created.tzinfo else created.replace(tzinfo=UTC))] += 1
    return dict(counted)


def new_account(db: Engine, name: str = "accounts") -> tuple[str, str]:
    """(organization id, actor id) of a new organization and its unclaimed agent."""
    now = utc_now()
    org_id, actor_id = new_id("org"), new_id("agt")
    with Session(db) as session, session.begin():
        session.add(Organization(id=org_id, name=name, created_at=now))
        session.flush()
        session.add(
            Actor(
                id=actor_id,
                organization_id=org_id,
                actor_type="agent",
                name=name,
                claim_state="unclaimed",
                created_at=now,
                updated_at=now,
            )
        )
    return org_id, actor_id


def insert_job(actor_id: str, db: Engine, operation: str, status: str, created: datetime) -> str:
    """A bare job row of ``actor_id`` written with plain SQL (no service code); its id."""
    with Session(db) as session:
        org_id = session.get(Actor, actor_id).organization_id  # type: ignore[union-attr]
    job_id = new_id("job")
    row: dict[str, Any] = {
        "id": job_id,
        "organization_id": org_id,
        "actor_id": actor_id,
        "operation": operation,
        "status": status,
        "trace_id": "trace_support",
        "credits_reserved": 0,
        "credits_debited": 0,
        "safety_status": "allowed",
        "attempts": 0,
        "created_at": created,
        "updated_at": created,
    }
    with db.begin() as conn:
        conn.execute(insert(Job), [row])
    return job_id


def assert_settled(engine: Engine, actor_id: str) -> Audit:
    """``audit_account``, failing on any problem or on any job still in flight."""
    audit = audit_account(engine, actor_id)
    audit.check()
    in_flight = audit.jobs("running") | audit.jobs("queued")
    assert not in_flight, f"jobs left in flight: {sorted(in_flight)[:5]} ({len(in_flight)})"
    assert audit.held == 0
    assert audit.rows_by_kind[ledger.RESERVATION] == audit.rows_by_kind[ledger.RELEASE]
    return audit


def _rows(rows: list[CreditLedgerEntry]) -> list[tuple[str, int]]:
    return [(row.kind, row.amount) for row in rows]


def ledger_rows(db: Engine, job_id: str) -> list[CreditLedgerEntry]:
    """Ledger rows of one job, oldest first."""
    with Session(db) as session:
        query = (
            select(CreditLedgerEntry)
            .where(CreditLedgerEntry.job_id == job_id)
            .order_by(CreditLedgerEntry.created_at, CreditLedgerEntry.id)
        )
        return list(session.execute(query).scalars())


def ledger_sum(db: Engine, actor_id: str) -> int:
    """The balance as the ledger's sum."""
    with Session(db) as session:
        query = select(func.coalesce(func.sum(CreditLedgerEntry.amount), 0)).where(
            CreditLedgerEntry.actor_id == actor_id
        )
        return int(session.execute(query).scalar_one())
