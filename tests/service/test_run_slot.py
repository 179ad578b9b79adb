"""A job admitted while its process has a free slot is claimed by its admission.

The runner starts such a job at once with the slot it holds, never behind a queued
job that waits for a slot.

One execution slot (``IMAGE_SKILL_WORKER_CONCURRENCY=1``) on a real server: every
refused admission must give the slot it took back, or the next create would wait
for it forever; and a create made while the slot is free is never a queued row.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import anyio
import pytest
from sqlalchemy import create_engine, text

from image_skill.service.creative.order import Order
from image_skill.service.identity.principal import Principal
from image_skill.service.jobs import inprocess_queue
from image_skill.service.jobs.executor import Claimed
from image_skill.service.runtime import Runtime
from image_skill.service.settings import to_async_url, to_sync_url
from tests.support import burst
from tests.support.databases import blank_database
from tests.support.servers import Server, start_server, stop_server

MODEL = "test.counting"
REFUSALS = 5


@pytest.fixture(params=["sqlite", "postgres"])
def one_slot(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Server, str]]:
    """A server with one execution slot and no free preview, and its database URL."""
    env = {
        **burst.plugin_env(tmp_path),
        "IMAGE_SKILL_WORKER_CONCURRENCY": "1",
        "IMAGE_SKILL_FREE_PREVIEW_CREDITS": "0",
        "IMAGE_SKILL_FAKE_PAYMENTS_ENABLED": "true",
    }
    with blank_database(request.param, tmp_path) as database_url:
        server = start_server(database_url, tmp_path, extra_env=env)
        try:
            yield server, database_url
        finally:
            stop_server(server)


def _ok(answer: tuple[int, dict[str, Any], dict[str, str]], status: int) -> dict[str, Any]:
    assert answer[0] == status, answer[1]
    data: dict[str, Any] = answer[1]["data"]
    return data


def _buy(server: Server, token: str, credits: int) -> None:
    quote = {"credits": credits, "payment_method": "fake", "idempotency_key": "slot-quote"}
    quoted = _ok(burst.call(server.base_url, "POST", "/v1/credit-quotes", quote, token), 201)
    purchase = {"quote_id": quoted["quote_id"], "idempotency_key": "slot-buy"}
    _ok(burst.call(server.base_url, "POST", "/v1/credit-purchases", purchase, token), 201)


def test_refused_admissions_give_the_slot_back(one_slot: tuple[Server, str]) -> None:
    server, database_url = one_slot
    token, _actor = burst.signup(server.base_url, "slot")
    body = {"prompt": "a red square", "model": MODEL}
    for _ in range(REFUSALS):
        status, envelope, _ = burst.call(server.base_url, "POST", "/v1/create", body, token)
        assert status == 402 and burst.code_of(envelope) == "INSUFFICIENT_CREDITS", envelope

    model = _ok(burst.call(server.base_url, "GET", f"/v1/models/{MODEL}"), 200)["model"]
    _buy(server, token, 2 * int(model["cost"]["credit_pricing"]["credits_required"]))
    started = time.monotonic()
    first = _ok(burst.call(server.base_url, "POST", "/v1/create", body, token), 201)
    second = _ok(burst.call(server.base_url, "POST", "/v1/create", body, token), 201)
    # Both ran at once in the one slot (a leaked slot leaves them queued, answered 202
    # after the server's wait).
    assert first["status"] == second["status"] == "completed"
    assert time.monotonic() - started < 10

    # Claimed by their admissions: started at admission, one attempt, never queued
    # behind a claim of their own.
    engine = create_engine(to_sync_url(to_async_url(database_url)))
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT status, attempts, started_at = created_at FROM jobs "
                    "WHERE id IN (:a, :b)"
                ),
                {"a": first["job_id"], "b": second["job_id"]},
            ).all()
    finally:
        engine.dispose()
    assert sorted(tuple(row) for row in rows) == [("completed", 1, True)] * 2


def test_a_claimed_job_never_waits_behind_a_queued_one_for_its_own_slot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One slot, taken by an admission; a queued job reaches the runner first.

    The queued job waits for a slot; the claimed one holds it and must start
    anyway, or both would wait for ever.
    """
    ran: list[str] = []

    async def run_job(_runtime: object, job_id: str) -> None:
        ran.append(job_id)

    async def run_admitted(_runtime: object, claimed: Claimed) -> None:
        ran.append(claimed.order.job_id)

    monkeypatch.setattr(inprocess_queue, "run_job", run_job)
    monkeypatch.setattr(inprocess_queue, "run_admitted", run_admitted)
    runtime = cast(Runtime, SimpleNamespace(settings=SimpleNamespace(worker_concurrency=1)))
    queue = inprocess_queue.InprocessQueue(runtime, pick_up_leftovers=False)
    claimed = Claimed(cast(Order, SimpleNamespace(job_id="job_claimed")), cast(Principal, None))

    async def scenario() -> None:
        async with anyio.create_task_group() as tasks:
            await tasks.start(queue.serve)
            slot = queue.take_slot()
            assert slot is not None and queue.take_slot() is None  # the one slot is taken
            queue._submit("job_queued")  # committed first, reaches the runner first
            await anyio.sleep(0.05)
            slot._started(claimed)  # the admission's commit
            with anyio.fail_after(5):
                while len(ran) < 2:
                    await anyio.sleep(0.01)
            tasks.cancel_scope.cancel()

    anyio.run(scenario)
    assert ran == ["job_claimed", "job_queued"]
