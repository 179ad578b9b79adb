"""The scale-out layout of docs/deploy.md on loopback, loaded, measured, then half killed.

Run from the repository root: ``scripts/scale-demo`` (or ``.venv/bin/python -m
bench.scale_demo``). It starts PostgreSQL (``IMAGE_SKILL_TEST_POSTGRES_URL``, else
``scripts/test-postgres``), SeaweedFS as the S3 store and ``redis-server`` for the
shared rate limits, then three phases, each on a fresh database and bucket, with
two ``image-skill serve`` processes that only admit and ``image-skill worker``
processes that run the jobs (``bench/_scale_layout.py``):

1. one worker, 2. two workers: ``AGENTS`` agents (each its own signup, over real
   HTTP) make ``CREATES_PER_AGENT`` sync creates each of ``test.slow`` (a 3 s
   provider), alternating between the API processes. Printed: creates/s and the
   latency a client sees above the provider's 3 s, split into the time the job
   waited for a worker slot and the rest (admission, hand-over, store, settle, answer).
3. kill: two workers; every agent makes one ``test.slow`` and one ``fal.flux-dev``
   create (a fake fal queue on loopback, 3 s too; fal requests can be resumed).
   ``KILL_AFTER_SECONDS`` into the load one worker and one API process get
   ``kill -9``. A client whose connection died replays the same idempotency key on
   the other API process and waits there. Printed: how long until every job was
   terminal, how many completed, were resumed or failed JOB_INTERRUPTED, fal
   submissions per fal job, what the clients finally got, and the ledger audit of
   every account (``tests/support/ledger.py``).

Every setting is the default except what a load test needs: roomy daily caps and
credits, and a signup rate that lets 60 agents sign up from one address. The
figures are this machine's, shared with whatever else runs on it.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench._scale_layout import (
    PROVIDER_SECONDS,
    Call,
    Infra,
    phase,
    postgres_admin,
    redis_server,
    run_load,
    sign_up,
    timed,
)
from sqlalchemy import Engine, func, select, text
from tests.fakes.fal_api import FakeFal
from tests.support.agents import Agent
from tests.support.ledger import audit_account
from tests.support.plugins import provider_calls
from tests.support.seaweed import start_seaweed, stop_seaweed
from tests.support.workers import SLOW_MODEL, kill_hard, pid_of

from image_skill.service.db.models import Job

AGENTS = 20
CREATES_PER_AGENT = 3
KILL_AFTER_SECONDS = 2.0
TERMINAL_WITHIN = 120.0
FAL_MODEL = "fal.flux-dev"
FAL_KEY = "scale-demo-fal-key"
CALL_LOG = "provider-calls.log"  # where tests/support/workers.py has test.slow log its calls
LEASE = "30 s lease, 5 s heartbeat, sweep every 10 s (the defaults)"
# Pinned below the default (64) so that 20 clients really queue for one worker's
# slots and a second worker shows; with 64 the clients, not the workers, are the limit.
WORKER_SLOTS = 8


def main() -> None:
    """Start the layout, run the three phases, print the figures."""
    workdir = Path(tempfile.mkdtemp(prefix="isk-scale-demo-"))
    with ExitStack() as stack:
        seaweed = start_seaweed(workdir / "seaweed")
        stack.callback(stop_seaweed, seaweed)
        redis_url = stack.enter_context(redis_server(workdir / "redis"))

        def settings() -> dict[str, Any]:
            s3 = seaweed.env(seaweed.bucket("demo"))
            return {
                **{name.removeprefix("IMAGE_SKILL_").lower(): v for name, v in s3.items()},
                "rate_limit_storage": redis_url,
                "rate_limit_signup_per_ip": "1000/hour",
                "worker_concurrency": WORKER_SLOTS,
            }

        infra = Infra(postgres_admin(), workdir, settings)
        print(
            f"scale demo: 2 API processes + N workers, PostgreSQL, SeaweedFS (S3), Redis "
            f"(rate limits); {SLOW_MODEL} {PROVIDER_SECONDS:g} s; {WORKER_SLOTS} jobs per worker; "
            f"{AGENTS} agents x {CREATES_PER_AGENT} sync creates, {AGENTS} at a time\n",
            flush=True,
        )
        print_table([measure(infra, workers) for workers in (1, 2)])
        print(flush=True)
        for line in kill_phase(infra):
            print(line, flush=True)
    print(f"\nlogs: {workdir}")


# -- phases 1 and 2: throughput and added latency --------------------------------------------


@dataclass
class Row:
    """One measured phase; ``queued``: seconds each job waited for a worker slot."""

    workers: int
    calls: list[Call]
    wall: float
    queued: dict[str, float] = field(default_factory=dict)

    @property
    def completed(self) -> int:
        """Creates answered 201 (the completed job)."""
        return sum(1 for call in self.calls if call.status == 201)


def measure(infra: Infra, workers: int) -> Row:
    """Phase 1 or 2: the sync load on ``workers`` workers."""
    with phase(infra, f"workers-{workers}", workers) as (deploy, engine):
        agents = sign_up(deploy, AGENTS)

        def client(index: int) -> Callable[[], list[Call]]:
            own = agents[index]
            return lambda: [
                timed(own[(index + n) % 2], SLOW_MODEL, uuid.uuid4().hex)
                for n in range(CREATES_PER_AGENT)
            ]

        calls, wall = run_load([client(i) for i in range(AGENTS)])
        ids = [call.job_id for call in calls if call.job_id]
        with engine.connect() as conn:
            rows = conn.execute(
                select(Job.id, Job.created_at, Job.started_at).where(Job.id.in_(ids))
            ).all()
        queued = {job: (start - made).total_seconds() for job, made, start in rows if start}
    return Row(workers, calls, wall, queued)


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))] if ordered else 0.0


def print_table(rows: list[Row]) -> None:
    """The throughput and latency table of phases 1 and 2."""
    header = (
        f"{'workers':>7} {'creates':>7} {'201':>4} {'wall':>6} {'creates/s':>9} "
        f"{'added p50':>9} {'added p99':>9} {'queued p50':>10} {'queued p99':>10} "
        f"{'other p50':>9} {'other p99':>9}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        done = [call for call in row.calls if call.status == 201 and call.job_id in row.queued]
        added = [call.seconds - PROVIDER_SECONDS for call in done]
        queued = [row.queued[str(call.job_id)] for call in done]
        other = [a - q for a, q in zip(added, queued, strict=True)]
        print(
            f"{row.workers:>7} {len(row.calls):>7} {row.completed:>4} {row.wall:>5.1f}s "
            f"{row.completed / row.wall:>9.2f} {pct(added, 0.5):>8.2f}s {pct(added, 0.99):>8.2f}s "
            f"{pct(queued, 0.5):>9.2f}s {pct(queued, 0.99):>9.2f}s "
            f"{pct(other, 0.5):>8.2f}s {pct(other, 0.99):>8.2f}s"
        )
    answers = Counter(call.answer for row in rows for call in row.calls)
    print(
        f"added = client wall time - {PROVIDER_SECONDS:g} s; queued = job created -> started "
        f"on a worker; other = added - queued. Answers: {dict(answers)}"
    )


# -- phase 3: kill -9 of one worker and one API process mid-load ------------------------------


@contextmanager
def fake_fal() -> Iterator[FakeFal]:
    """fal's queue faked on loopback; each request takes the provider's seconds from its
    first status poll, whichever executor polls it (a resumed one included). FAL_KEY and
    FAL_QUEUE_RUN_HOST go into this process's environment, which the servers inherit."""
    with FakeFal(FAL_KEY) as fal:
        first_poll: dict[str, float] = {}

        def hold(request_id: str) -> None:
            now = time.monotonic()
            waiting = now - first_poll.setdefault(request_id, now) < PROVIDER_SECONDS
            with fal.lock:
                queued = fal.requests[request_id]
                queued.held = waiting
                if waiting:
                    queued.polls = 0  # let go: IN_QUEUE, IN_PROGRESS, then COMPLETED

        fal.on_status = hold
        os.environ.update({"FAL_KEY": FAL_KEY, "FAL_QUEUE_RUN_HOST": fal.host})
        yield fal


def wait_on(agent: Agent, job_id: str) -> Call:
    """Long-poll ``jobs wait`` until the job is terminal; its final status as a call."""
    start = time.monotonic()
    status = "still waiting"
    while time.monotonic() - start < TERMINAL_WITHIN:
        response = agent.get(f"/v1/jobs/{job_id}/wait", params={"timeout_seconds": 30})
        job = response.json()["data"]["job"]
        if job["terminal"]:
            status = str(job["status"])
            break
    error = job.get("error") or {}
    return Call(time.monotonic() - start, status, job_id, error.get("code"), retried=True)


def kill_client(own: list[Agent], index: int) -> Callable[[], list[Call]]:
    """An agent making one create of each model; after a dead connection it replays the
    same idempotency key on the surviving API process (the second) and waits there."""
    models = [SLOW_MODEL, FAL_MODEL] if index % 2 else [FAL_MODEL, SLOW_MODEL]

    def run() -> list[Call]:
        calls = []
        for n, model in enumerate(models):
            key = uuid.uuid4().hex
            call = timed(own[(index + n) % 2], model, key)
            if isinstance(call.status, str):
                call = timed(own[1], model, key)
                call.retried = True
                if call.status == 202 and call.job_id:
                    call = wait_on(own[1], call.job_id)
            calls.append(call)
        return calls

    return run


def kill_phase(infra: Infra) -> list[str]:
    """Phase 3; the lines to print."""
    with fake_fal() as fal, phase(infra, "kill", 2) as (deploy, engine):
        agents = sign_up(deploy, AGENTS)
        api, worker = deploy.apis[0], deploy.workers[0]
        killed: dict[str, Any] = {}

        def killer() -> None:
            time.sleep(KILL_AFTER_SECONDS)
            with engine.connect() as conn:
                running = conn.execute(select(Job.worker_id).where(Job.status == "running"))
                victims = [w for w in running.scalars() if w and pid_of(w) == worker.process.pid]
            killed["running"] = len(victims)
            kill_hard(worker.process)
            kill_hard(api.process)
            killed["at"] = time.monotonic()

        threading.Thread(target=killer).start()
        calls, _wall = run_load([kill_client(agents[i], i) for i in range(AGENTS)])
        while unfinished(engine) and time.monotonic() - killed["at"] < TERMINAL_WITHIN:
            time.sleep(0.25)
        settled_after = time.monotonic() - killed["at"]
        slow_calls = Counter(job for _m, _o, job in provider_calls(deploy.workdir / CALL_LOG))
        most = max(slow_calls.values(), default=0)
        return [
            *report(engine, fal, agents, calls, killed, settled_after),
            f"  {SLOW_MODEL} calls that ran to the end: {sum(slow_calls.values())}, "
            f"for {len(slow_calls)} jobs; most runs of one job: {most}",
        ]


def unfinished(engine: Engine) -> int:
    """Jobs not yet terminal."""
    with engine.connect() as conn:
        query = select(func.count()).select_from(Job).where(Job.status.in_(("queued", "running")))
        return int(conn.execute(query).scalar_one())


def report(
    engine: Engine,
    fal: FakeFal,
    agents: list[list[Agent]],
    calls: list[Call],
    killed: dict[str, Any],
    settled_after: float,
) -> list[str]:
    """What the kill did, from the database, the fake fal and the clients."""
    with engine.connect() as conn:
        jobs = conn.execute(select(Job.status, Job.error_code, Job.model_id, Job.attempts)).all()
    outcomes = Counter((status, error) for status, error, _model, _attempts in jobs)
    resumed = sum(1 for s, _e, m, a in jobs if s == "completed" and m == FAL_MODEL and a > 1)
    fal_jobs = sum(1 for _s, _e, model, _a in jobs if model == FAL_MODEL)
    left = unfinished(engine)
    audits = [audit_account(engine, own[0].actor_id) for own in agents]
    rows: Counter[str] = Counter()
    for audit in audits:
        rows.update(audit.rows_by_kind)
    problems = [problem for audit in audits for problem in audit.problems]
    completed = outcomes[("completed", None)]
    interrupted = outcomes[("failed", "JOB_INTERRUPTED")]
    replayed = sum(1 for call in calls if call.retried)
    settled = (
        f"every job terminal {settled_after:.1f} s after the kill"
        if not left
        else f"NOT SETTLED: {left} jobs still queued or running {settled_after:.0f} s after it"
    )
    return [
        f"kill -9 phase: 2 API + 2 workers, {len(calls)} sync creates ({AGENTS} agents, each "
        f"one {SLOW_MODEL} and one {FAL_MODEL} on a fake fal queue, both {PROVIDER_SECONDS:g} "
        f"s); {LEASE}",
        f"  at t={KILL_AFTER_SECONDS:g} s: kill -9 of worker 1 (running {killed['running']} "
        f"jobs) and of API process 1",
        f"  {settled}",
        f"  jobs: {len(jobs)}; completed {completed} (fal jobs resumed by the other worker: "
        f"{resumed}); failed JOB_INTERRUPTED {interrupted}; "
        f"other {len(jobs) - completed - interrupted - left} {dict(outcomes)}",
        f"  fal submissions: {len(fal.submits)} for {fal_jobs} fal jobs",
        f"  clients: {replayed} creates lost the killed API and were replayed with the same "
        f"idempotency key on the other; final answers "
        f"{dict(Counter(call.answer for call in calls))}",
        f"  ledger ({len(audits)} accounts): {rows['reservation']} reservations, "
        f"{rows['release']} releases, {rows['debit']} debits for {completed} completed jobs; "
        f"invariant problems: {len(problems)}",
        *(f"    {problem}" for problem in problems[:10]),
        *stuck(engine),
    ]


def stuck(engine: Engine) -> list[str]:
    """Each job not terminal, with its procrastinate rows (what a diagnosis needs)."""
    query = text(
        "SELECT j.id, j.status, j.model_id, j.attempts, j.worker_id, "
        "(SELECT string_agg(p.status::text || ' ' || coalesce(p.worker_id::text, '-'), ', ') "
        "FROM procrastinate.procrastinate_jobs p WHERE p.args->>'job_id' = j.id) AS queue_rows "
        "FROM jobs j WHERE j.status IN ('queued', 'running')"
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        f"    stuck {job}: {status}, {model}, attempts {attempts}, worker {worker}, "
        f"queue rows: {queue or 'none'}"
        for job, status, model, attempts, worker, queue in rows
    ]


if __name__ == "__main__":
    main()
