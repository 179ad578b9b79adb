"""``jobs.waiter``: a waiter wakes on a signal from any thread, and finds a job that ended
without one (a lost notification) at the next slow re-check, never by spinning."""

from __future__ import annotations

import threading
import time

import anyio
import pytest

from image_skill.service.jobs import waiter


class Status:
    """A job's status as the database would answer it, with the number of reads."""

    def __init__(self, value: str = "running") -> None:
        self.value = value
        self.reads = 0

    async def read(self) -> str | None:
        self.reads += 1
        return self.value


def test_a_signal_from_another_thread_wakes_the_waiter_at_once() -> None:
    status = Status()

    def finish() -> None:
        time.sleep(0.2)
        status.value = "completed"
        waiter.signal("job_signal")

    async def wait() -> tuple[bool, float]:
        started = time.monotonic()
        threading.Thread(target=finish).start()
        done = await waiter.wait_until_terminal("job_signal", 10, status.read)
        return done, time.monotonic() - started

    done, elapsed = anyio.run(wait)
    assert done is True
    assert elapsed < 1.0
    assert status.reads == 2  # once on entry, once when woken
    assert "job_signal" not in waiter._waiters


def test_a_lost_signal_costs_one_recheck_not_a_hang(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(waiter, "RECHECK_SECONDS", 0.3)
    status = Status()

    async def wait() -> tuple[bool, float]:
        started = time.monotonic()
        async with anyio.create_task_group() as tasks:

            async def finish_silently() -> None:
                await anyio.sleep(0.1)
                status.value = "failed"  # no signal: the notification was lost

            tasks.start_soon(finish_silently)
            done = await waiter.wait_until_terminal("job_lost", 10, status.read)
        return done, time.monotonic() - started

    done, elapsed = anyio.run(wait)
    assert done is True
    assert 0.25 < elapsed < 1.5
    assert status.reads <= 3


def test_the_timeout_answers_false_with_the_job_still_running(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(waiter, "RECHECK_SECONDS", 0.2)
    status = Status()
    started = time.monotonic()
    done = anyio.run(waiter.wait_until_terminal, "job_slow", 0.5, status.read)
    assert done is False
    assert 0.45 < time.monotonic() - started < 1.5
    assert status.reads <= 5  # about one read per re-check, not a busy loop
