"""Health probes and creative admissions stay responsive under load.

``/healthz`` checks the database on a connection reserved for it, so it answers
even while every connection of the main pool is taken. Creative requests hold a
place in the admission gate while they do their own work and lend it out while
their provider runs, so a burst queues in order without crowding the event loop.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from image_skill.service.creative.admission_gate import AdmissionPlace
from tests.support.agents import sign_up
from tests.support.apps import started_app
from tests.support.envelopes import ok


def test_healthz_answers_while_the_main_pool_is_exhausted(api_app: FastAPI) -> None:
    held: list[Any] = []

    async def take_every_connection() -> None:
        pool = api_app.state.engine.sync_engine.pool
        for _ in range(pool.size() + pool._max_overflow):
            connection = api_app.state.engine.connect()
            await connection.start()
            held.append(connection)

    async def give_them_back() -> None:
        for connection in held:
            await connection.close()

    with TestClient(api_app) as client:
        assert client.portal is not None
        client.portal.call(take_every_connection)
        try:
            started = time.perf_counter()
            response = client.get("/healthz")
            elapsed = time.perf_counter() - started
        finally:
            client.portal.call(give_them_back)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["database"] == "ok"
    assert elapsed < 2.0  # the main pool would have made it wait 30 s for a connection


async def _holder(place: AdmissionPlace, log: list[str], name: str, work: float) -> None:
    await place.take()
    log.append(f"{name} in")
    await anyio.sleep(work)
    log.append(f"{name} out")
    place.give_up()


def test_gate_admits_in_order_and_never_more_than_its_size() -> None:
    async def main() -> list[str]:
        gate = anyio.CapacityLimiter(2)
        log: list[str] = []
        async with anyio.create_task_group() as tasks:
            for name in "abc":
                tasks.start_soon(_holder, AdmissionPlace(gate), log, name, 0.05)
                await anyio.sleep(0.001)
        return log

    log = anyio.run(main)
    # c waits until a or b leaves, and only then comes in.
    assert log.index("c in") > min(log.index("a out"), log.index("b out"))
    assert log[:2] == ["a in", "b in"]


def test_a_lent_place_serves_another_request_and_is_taken_back() -> None:
    async def main() -> list[str]:
        gate = anyio.CapacityLimiter(1)
        log: list[str] = []
        slow = AdmissionPlace(gate)
        await slow.take()
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_holder, AdmissionPlace(gate), log, "other", 0.01)
            async with slow.lent():
                log.append("provider waiting")
                await anyio.sleep(0.05)  # the other request gets the place meanwhile
            log.append("slow back")
            assert gate.borrowed_tokens == 1
        slow.give_up()
        assert gate.borrowed_tokens == 0
        return log

    assert anyio.run(main) == ["provider waiting", "other in", "other out", "slow back"]


def test_a_failed_wait_does_not_take_the_place_again() -> None:
    async def main() -> float:
        gate = anyio.CapacityLimiter(1)
        place = AdmissionPlace(gate)
        await place.take()
        with pytest.raises(RuntimeError):
            async with place.lent():
                raise RuntimeError("provider failed")
        place.give_up()  # a no-op: the place was never taken back
        return gate.borrowed_tokens

    assert anyio.run(main) == 0


def test_creative_posts_queue_for_a_place_and_other_calls_do_not(
    database_url: str, tmp_path: Path
) -> None:
    with started_app(database_url, tmp_path / "home", admission_concurrency=1) as client:
        agent = sign_up(client)
        runtime = client.app.state.runtime  # type: ignore[attr-defined]
        blocker = object()
        assert client.portal is not None
        client.portal.call(runtime.admission_gate.acquire_on_behalf_of, blocker)
        answers: list[Any] = []
        creating = threading.Thread(
            target=lambda: answers.append(agent.create(prompt="a queued kite"))
        )
        creating.start()
        try:
            creating.join(timeout=1.0)
            assert creating.is_alive(), "the create must wait for the only place"
            # Reads, probes and sign-ups are not creative work: they never queue.
            assert client.get("/v1/whoami", headers=agent.headers).status_code == 200
            assert client.get("/healthz").status_code == 200
        finally:
            client.portal.call(runtime.admission_gate.release_on_behalf_of, blocker)
            creating.join(timeout=30)
        ok(answers[0])
        assert runtime.admission_gate.borrowed_tokens == 0  # given back after answering
