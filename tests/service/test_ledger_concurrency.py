"""Many creates at once for one agent against a real ``image-skill serve``: no overdraft.

The acceptance test of the credit ledger: a burst of at least 200 creates for
one agent whose budget allows exactly k of them, on SQLite and on PostgreSQL.
Exactly k succeed, every other answer is INSUFFICIENT_CREDITS, the balance is
what was granted minus k debits and never negative, and no reservation is left
open. A second burst mixes a failing model in: failures release, successes
debit, and the totals agree. A small Hypothesis test drives the accounting
functions in-process with arbitrary interleavings of job outcomes.
"""

from __future__ import annotations

import asyncio
import http.client
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session as SyncSession

from image_skill.contract.envelope import EXIT_CODE_HEADER
from image_skill.contract.errors import spec_for
from image_skill.contract.ids import new_id, utc_now
from image_skill.service.creative import accounting
from image_skill.service.credits import ledger
from image_skill.service.db.engine import create_engine_for, session_scope
from image_skill.service.db.migrate import upgrade_to_head
from image_skill.service.db.models import Actor, Job, Organization
from image_skill.service.identity.principal import Principal
from image_skill.service.quota.refusals import KEPT_PER_DAY
from image_skill.service.settings import Settings, to_async_url, to_sync_url
from tests.support import burst
from tests.support.databases import blank_database
from tests.support.ledger import assert_settled, audit_account
from tests.support.servers import Server, start_server, stop_server

CALL_LOG_ENV = "IMAGE_SKILL_TEST_CALL_LOG"
PRICED = "test.counting"
FAILING = "test.failing"
BURST = 200
K = 37
MIXED = 60
FREE_PREVIEW = 5


# --- talking to the server, one connection per request -----------------------------------


@dataclass
class Answer:
    """One HTTP answer."""

    status: int
    exit_code: str | None
    envelope: dict[str, Any]
    seconds: float = 0.0

    @property
    def code(self) -> str | None:
        return burst.code_of(self.envelope)

    @classmethod
    def of(cls, sent: tuple[int, dict[str, Any], dict[str, str]]) -> Answer:
        """From the bench's ``(status, envelope, headers)``."""
        status, envelope, headers = sent
        return cls(status, headers.get(EXIT_CODE_HEADER), envelope)


def _call(server: Server, *request: Any, **parts: Any) -> Answer:
    """One request on a connection of its own: ``(server, method, path, body, token)``."""
    return Answer.of(burst.call(server.base_url, *request, **parts))


def _ok(answer: Answer, status: int = 200) -> dict[str, Any]:
    assert answer.status == status, answer.envelope
    data: dict[str, Any] = answer.envelope["data"]
    return data


def _burst(server: Server, token: str, bodies: list[dict[str, Any]]) -> tuple[list[Answer], float]:
    """POST every body to /v1/create at once (one thread and connection each).

    Every thread connects first and then waits at a barrier, so the requests
    leave together; returns the answers (each with its own latency) and the
    wall time from release to the last answer.
    """

    def timed_create(conn: http.client.HTTPConnection, body: dict[str, Any]) -> Answer:
        sent = time.monotonic()
        answer = Answer.of(burst.send(conn, "POST", "/v1/create", body, token))
        answer.seconds = time.monotonic() - sent
        return answer

    return burst.fire_each(server.base_url, bodies, timed_create)


# --- one agent with a known budget --------------------------------------------------------


@dataclass
class Funded:
    """A signed-up agent with exactly ``budget`` credits."""

    token: str
    actor_id: str
    budget: int


@dataclass
class Served:
    """A real server with the counting plugin on one database, and a way behind it."""

    kind: str
    server: Server
    db: Engine
    call_log: Path

    def provider_calls(self, job_ids: set[str]) -> int:
        """Model calls the server made for ``job_ids`` (from the plugin's call log)."""
        if not self.call_log.exists():
            return 0
        lines = self.call_log.read_text().splitlines()
        return sum(1 for line in lines if line.split()[-1] in job_ids)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """One server per database kind, shared by the burst tests (each uses its own agent).

    Module-scoped, so it starts before the per-test ``isolated_home``: the
    environment the server needs is spelled out here instead.
    """
    workdir = tmp_path_factory.mktemp(f"ledger-{request.param}")
    with blank_database(request.param, workdir) as database_url:
        yield from _serve(request.param, workdir, database_url)


def _serve(kind: str, workdir: Path, database_url: str) -> Iterator[Served]:
    call_log = workdir / "provider-calls.log"
    env = {
        **burst.plugin_env(workdir),
        CALL_LOG_ENV: str(call_log),
        "IMAGE_SKILL_FREE_PREVIEW_CREDITS": str(FREE_PREVIEW),
        "IMAGE_SKILL_FAKE_PAYMENTS_ENABLED": "true",
        # Credits, not the daily cap, must be the binding limit whatever the claim state.
        "IMAGE_SKILL_DAILY_JOB_CAP_UNCLAIMED": "100000",
        "IMAGE_SKILL_DAILY_JOB_CAP_PAYMENT_BACKED": "100000",
        "IMAGE_SKILL_DAILY_JOB_CAP_CLAIMED": "100000",
    }
    server = start_server(database_url, workdir, extra_env=env)
    db = create_engine(to_sync_url(to_async_url(database_url)))
    try:
        yield Served(kind, server, db, call_log)
    finally:
        db.dispose()
        stop_server(server)
    log = server.log()
    for bad in ("database is locked", "QueuePool limit", "TimeoutError"):
        assert bad not in log, [line for line in log.splitlines() if bad in line][:5]
    # Only the failing model's "crash" mode may leave a traceback (logged as provider crashed).
    assert log.count("Traceback") == log.count("provider crashed"), log[-4000:]


def _credits_required(server: Server, model_id: str) -> int:
    data = _ok(_call(server, "GET", f"/v1/models/{model_id}"))["model"]
    credits = int(data["cost"]["credit_pricing"]["credits_required"])
    assert credits > 0, data["cost"]
    return credits


def _funded_agent(server: Server, budget: int, name: str = "racer") -> Funded:
    """Sign up (free preview) and buy the rest on the fake rail, to exactly ``budget``.

    The free preview is fixed when the server starts, but the price is only
    known from the running server's ``GET /v1/models/<id>``; so the preview is
    small and the fake rail tops the account up to the exact budget.
    """
    signup = {
        "human_email": f"{name}@example.com",
        "agent_name": name,
        "runtime": "pytest",
        "return_token": True,
    }
    data = _ok(_call(server, "POST", "/v1/agent-signups", signup), status=201)
    token = data["token"]
    quota = _call(server, "GET", "/v1/quota", token=token)
    actor_id = quota.envelope["actor"]["actor_id"]
    assert _ok(quota)["credits"]["balance"] == FREE_PREVIEW
    quote = _ok(
        _call(
            server,
            "POST",
            "/v1/credit-quotes",
            {
                "credits": budget - FREE_PREVIEW,
                "payment_method": "fake",
                "idempotency_key": "top-up-quote",
            },
            token,
        ),
        status=201,
    )
    bought = _ok(
        _call(
            server,
            "POST",
            "/v1/credit-purchases",
            {"quote_id": quote["quote_id"], "idempotency_key": "top-up"},
            token,
        ),
        status=201,
    )
    assert bought["balance_after"] == budget
    return Funded(token, actor_id, budget)


def _quota(server: Server, agent: Funded) -> dict[str, Any]:
    return _ok(_call(server, "GET", "/v1/quota", token=agent.token))


def _report(label: str, seconds: float, answers: list[Answer]) -> None:
    latencies = sorted(answer.seconds for answer in answers)
    median, slowest = latencies[len(latencies) // 2], latencies[-1]
    print(
        f"\n[ledger-concurrency] {label}: wall {seconds:.2f} s, "
        f"request median {median:.2f} s, slowest {slowest:.2f} s"
    )


# --- the acceptance test ------------------------------------------------------------------


def test_burst_of_creates_spends_exactly_the_budget(served: Served) -> None:
    server = served.server
    credits = _credits_required(server, PRICED)
    # One credit short of k + 1 creates: the (k+1)-th must be refused, not squeezed in.
    budget = K * credits + credits - 1
    agent = _funded_agent(server, budget)
    bodies = [
        {
            "prompt": f"harbour at dawn, burst request {n}",
            "model": PRICED,
            "model_parameters": {"seed": n, "long_edge": 16},
        }
        for n in range(BURST)
    ]

    answers, elapsed = _burst(server, agent.token, bodies)
    _report(f"burst of {BURST} creates on {served.kind}", elapsed, answers)

    outcomes = Counter((answer.status, answer.code) for answer in answers)
    assert outcomes == {(201, None): K, (402, "INSUFFICIENT_CREDITS"): BURST - K}, outcomes
    succeeded = {answer.envelope["data"]["job_id"] for answer in answers if answer.status == 201}
    assert len(succeeded) == K
    for answer in answers:
        if answer.status == 201:
            assert answer.exit_code == "0"
            assert answer.envelope["data"]["quota"]["credits_debited"] == credits
            assert answer.envelope["data"]["quota"]["balance_after"] >= 0
        else:
            assert answer.exit_code == "5", answer.envelope
            assert answer.envelope["data"] is None
            details = answer.envelope["error"]["details"]
            assert details["credits_required"] == credits
            assert 0 <= details["balance"] < credits

    audit = assert_settled(served.db, agent.actor_id)
    assert audit.credits_in == budget
    assert audit.balance == budget - K * credits == credits - 1
    assert audit.debited == K * credits
    assert audit.rows_by_kind["debit"] == K
    assert audit.jobs("completed") == audit.debited_jobs == succeeded
    # A refusal happens before admission: no ledger row. It is kept as a never-started
    # failed job (quota/refusals.py), at most KEPT_PER_DAY a day even in a burst.
    kept = {
        answer.envelope["error"]["details"].get("refused_job_id")
        for answer in answers
        if answer.status == 402
    } - {None}
    assert audit.jobs("failed") == kept
    assert len(kept) == min(BURST - K, KEPT_PER_DAY)
    assert audit.rows_by_kind["reservation"] == audit.rows_by_kind["release"] == K

    quota = _quota(server, agent)
    assert quota["credits"]["reserved_in_flight"] == 0
    assert quota["credits"]["balance"] == audit.balance
    assert quota["jobs"]["used_today"] == K


def test_mixed_burst_releases_failures_and_debits_successes(served: Served) -> None:
    server = served.server
    price = _credits_required(server, PRICED)
    assert _credits_required(server, FAILING) == price
    successes_allowed = 20
    budget = successes_allowed * price + price - 1
    agent = _funded_agent(server, budget, name="mixer")
    modes = ("provider_failed", "unavailable", "crash", "refuse")
    bodies: list[dict[str, Any]] = []
    for n in range(MIXED):
        if n % 2:
            bodies.append(
                {
                    "prompt": f"fail {n}",
                    "model": FAILING,
                    "model_parameters": {"mode": modes[n % len(modes)]},
                }
            )
        else:
            bodies.append(
                {
                    "prompt": f"succeed {n}",
                    "model": PRICED,
                    "model_parameters": {"seed": n, "delay_ms": 20 * (n % 5)},
                }
            )

    answers, elapsed = _burst(server, agent.token, bodies)
    _report(f"mixed burst of {MIXED} on {served.kind}", elapsed, answers)

    wanted_failure = {
        "provider_failed": "PROVIDER_FAILED",
        "unavailable": "PROVIDER_UNAVAILABLE",
        "crash": "PROVIDER_FAILED",
        "refuse": "CONTENT_POLICY_DENIED",
    }
    ok_jobs: set[str] = set()
    failed_answers = refused = 0
    for body, answer in zip(bodies, answers, strict=True):
        if answer.code is not None:  # every error is the one its cause must give, never a 500
            spec = spec_for(answer.code)
            assert (answer.status, answer.exit_code) == (spec.http_status, str(spec.exit_code))
        if answer.code == "INSUFFICIENT_CREDITS":
            refused += 1
        elif body["model"] == FAILING:
            assert answer.code == wanted_failure[body["model_parameters"]["mode"]], answer.envelope
            failed_answers += 1
        else:
            assert answer.status == 201, answer.envelope
            ok_jobs.add(answer.envelope["data"]["job_id"])
    assert len(ok_jobs) + failed_answers + refused == MIXED
    assert 1 <= len(ok_jobs) <= successes_allowed
    assert failed_answers >= 1

    audit = assert_settled(served.db, agent.actor_id)
    assert audit.jobs("completed") == audit.debited_jobs == ok_jobs
    kept = {
        answer.envelope["error"]["details"].get("refused_job_id")
        for answer in answers
        if answer.code == "INSUFFICIENT_CREDITS"
    } - {None}  # refusals kept as never-started failed jobs, nothing reserved
    assert len(audit.jobs("failed") - kept) == failed_answers
    assert audit.jobs("failed") - kept <= audit.released_jobs
    assert audit.credits_in == budget
    assert audit.debited == len(ok_jobs) * price
    assert audit.balance == budget - len(ok_jobs) * price >= 0
    # A refused create never reaches the model; every admitted one reaches it once.
    assert served.provider_calls(audit.jobs("completed") | audit.jobs("failed")) == (
        len(ok_jobs) + failed_answers
    )

    quota = _quota(server, agent)
    assert quota["credits"]["reserved_in_flight"] == 0
    assert quota["credits"]["balance"] == audit.balance


# --- the accounting functions, in-process, under arbitrary outcomes ----------------------


@dataclass
class Bench:
    """One migrated SQLite database, its async engine and loop, shared by the examples."""

    loop: asyncio.AbstractEventLoop
    engine: AsyncEngine
    sync: Engine
    settings: Settings


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    """Built once: migrating and connecting per example would dominate the test's time."""
    home = tmp_path_factory.mktemp("ledger-property")
    settings_ = Settings(
        database_url=f"sqlite:///{home / 'ledger.db'}",
        home=home,
        environment="test",
        daily_job_cap_unclaimed=100000,
    )
    upgrade_to_head(settings_)
    loop = asyncio.new_event_loop()
    engine = create_engine_for(settings_)
    sync = create_engine(to_sync_url(settings_.resolved_database_url))
    try:
        yield Bench(loop, engine, sync, settings_)
    finally:
        sync.dispose()
        loop.run_until_complete(engine.dispose())
        loop.close()


OUTCOMES = st.sampled_from(["settle", "release", "open"])
JOB_PLANS = st.lists(
    st.tuples(st.integers(min_value=1, max_value=9), OUTCOMES),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(grant=st.integers(min_value=0, max_value=40), plans=JOB_PLANS, retries=st.booleans())
def test_accounting_never_overdraws(
    bench: Bench, grant: int, plans: list[tuple[int, str]], retries: bool
) -> None:
    """Admit, settle and release jobs concurrently; the audit always holds.

    Each planned job asks for some credits and then settles, fails or stays
    open; all run at once as tasks on one engine. With ``retries`` every settle
    and release runs twice, as a retried request would (it must be a no-op).
    """
    actor_id = bench.loop.run_until_complete(_new_account(bench, grant))
    principal = Principal(actor_id, "agent", _org_of(bench, actor_id), "unclaimed", "restricted")
    admitted = bench.loop.run_until_complete(_all_jobs(bench, principal, plans, retries))
    audit = audit_account(bench.sync, actor_id)
    audit.check()
    settled = sum(c for c, plan, ok in admitted if ok and plan == "settle")
    still_open = sum(c for c, plan, ok in admitted if ok and plan == "open")
    assert audit.credits_in == grant
    assert audit.debited == settled
    assert audit.held == still_open
    assert audit.balance == grant - settled - still_open >= 0
    assert audit.jobs("completed") == audit.debited_jobs
    assert audit.jobs("failed") <= audit.released_jobs
    assert len(audit.jobs("running")) == sum(
        1 for _c, plan, ok in admitted if ok and plan == "open"
    )


async def _new_account(bench: Bench, grant: int) -> str:
    now = utc_now()
    org_id, actor_id = new_id("org"), new_id("agt")
    async with session_scope(bench.engine, write=True) as session:
        session.add(Organization(id=org_id, name="property", created_at=now))
        await session.flush()
        session.add(
            Actor(
                id=actor_id,
                organization_id=org_id,
                actor_type="agent",
                name="property",
                claim_state="unclaimed",
                created_at=now,
                updated_at=now,
            )
        )
        await session.flush()
        if grant:
            await ledger.grant_once(
                session,
                organization_id=org_id,
                actor_id=actor_id,
                amount=grant,
                reason="free_preview",
                scope=f"free_preview:{actor_id}",
            )
    return actor_id


def _org_of(bench: Bench, actor_id: str) -> str:
    with SyncSession(bench.sync) as session:
        actor = session.get(Actor, actor_id)
        assert actor is not None
        return actor.organization_id


async def _all_jobs(
    bench: Bench, principal: Principal, plans: list[tuple[int, str]], retries: bool
) -> list[tuple[int, str, bool]]:
    return list(
        await asyncio.gather(*(_job(bench, principal, c, plan, retries) for c, plan in plans))
    )


async def _job(
    bench: Bench, principal: Principal, credits: int, plan: str, retries: bool
) -> tuple[int, str, bool]:
    """Admit one job as ``_admit`` does, then settle it, fail it or leave it running."""
    job_id = new_id("job")
    async with session_scope(bench.engine, write=True) as session:
        used, balance = await accounting.lock_for_admission(session, principal)
        refusal = accounting.admission_refusal(bench.settings, principal, credits, used, balance)
        if refusal is not None:
            assert refusal.code == "INSUFFICIENT_CREDITS", refusal.code
            assert refusal.details["balance"] < credits
            return credits, plan, False
        now = utc_now()
        session.add(
            Job(
                id=job_id,
                organization_id=principal.organization_id,
                actor_id=principal.actor_id,
                operation="create",
                status="running",
                trace_id="property",
                credits_reserved=credits,
                credits_debited=0,
                lease_expires_at=now + timedelta(minutes=5),
                created_at=now,
                updated_at=now,
            )
        )
        await session.flush()
        await accounting.reserve(session, principal, job_id, credits)
    await asyncio.sleep(0)  # let the other jobs' admissions interleave
    for _attempt in range(2 if retries else 1):
        if plan == "open":
            break
        async with session_scope(bench.engine, write=True) as session:
            job = await session.get(Job, job_id)
            assert job is not None
            if plan == "settle":
                job.status, job.credits_debited = "completed", credits
                await accounting.settle(session, principal, job_id, credits)
            else:
                job.status = "failed"
                await accounting.release(
                    session, principal.actor_id, principal.organization_id, job_id, credits
                )
    return credits, plan, True
