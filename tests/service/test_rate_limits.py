"""Rate limits against real ``image-skill serve`` processes: memory, shared Redis, fail-open.

Redis is Debian's ``redis-server``, started here on a free loopback port. Every
refusal must be ``RATE_LIMITED`` (HTTP 429, exit 5) with
``recovery.retry_after_seconds`` and a matching ``Retry-After`` header.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, func, select

from image_skill.service.abuse.limiter import RateLimiter, hashed_key
from image_skill.service.credits import ledger
from image_skill.service.db.models import CreditLedgerEntry
from image_skill.service.settings import Settings, to_async_url, to_sync_url
from tests.support.servers import Server, free_port, start_server, stop_server

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
GENEROUS = "1000000/minute"


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A throwaway ``redis-server`` on a free loopback port (no persistence)."""
    import redis

    if not Path(REDIS_SERVER).exists():
        pytest.fail("redis-server is missing: scripts/test installs Debian's redis-server")
    port = free_port()
    process = subprocess.Popen(
        [
            REDIS_SERVER,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail("redis-server did not start")
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    client.close()
    process.terminate()
    process.wait(timeout=10)


def limited_server(workdir: Path, database_url: str | None = None, **limits: str) -> Server:
    """A server whose rate limit settings are ``limits`` (others stay generous)."""
    env = {f"IMAGE_SKILL_{name.upper()}": value for name, value in limits.items()}
    workdir.mkdir(parents=True, exist_ok=True)
    return start_server(database_url or f"sqlite:///{workdir / 'test.db'}", workdir, env)


def assert_rate_limited(response: httpx.Response) -> int:
    """The refusal's shape; returns its retry-after seconds."""
    assert response.status_code == 429, response.text
    assert response.headers["x-image-skill-exit-code"] == "5"
    envelope = response.json()
    assert envelope["ok"] is False
    error = envelope["error"]
    assert error["code"] == "RATE_LIMITED"
    assert error["retryable"] is True
    wait = error["recovery"]["retry_after_seconds"]
    assert isinstance(wait, int) and 1 <= wait <= 3600
    assert response.headers["retry-after"] == str(wait)
    return wait


def test_per_ip_limit_in_one_process(tmp_path: Path) -> None:
    server = limited_server(tmp_path, rate_limit_per_ip="5/minute")
    try:
        with httpx.Client(base_url=server.base_url, timeout=30) as client:
            for _ in range(5):
                assert client.get("/v1/models").status_code == 200
            assert_rate_limited(client.get("/v1/models"))
            # Refused before routing and auth, creative routes included.
            assert_rate_limited(client.post("/v1/upload", json={}))
            assert_rate_limited(client.get("/no-such-route"))
            # Health probes are exempt.
            assert client.get("/healthz").status_code == 200
    finally:
        stop_server(server)


def test_per_token_limit_counts_the_token_without_the_database(tmp_path: Path) -> None:
    server = limited_server(tmp_path, rate_limit_per_token="3/minute")
    made_up = {"authorization": "Bearer isk_made_up_" + uuid.uuid4().hex}
    other = {"authorization": "Bearer isk_made_up_" + uuid.uuid4().hex}
    try:
        with httpx.Client(base_url=server.base_url, timeout=30) as client:
            for _ in range(3):
                assert client.get("/v1/whoami", headers=made_up).status_code == 401
            assert_rate_limited(client.get("/v1/whoami", headers=made_up))
            assert client.get("/v1/whoami", headers=other).status_code == 401
            assert client.get("/v1/models").status_code == 200  # no token: per-IP only
        assert made_up["authorization"].split()[1] not in server.log()
    finally:
        stop_server(server)


def test_forwarded_for_is_ignored_unless_trusted(tmp_path: Path) -> None:
    untrusted = limited_server(tmp_path / "untrusted", rate_limit_per_ip="2/minute")
    try:
        with httpx.Client(base_url=untrusted.base_url, timeout=30) as client:
            for hop in ("10.0.0.1", "10.0.0.2"):
                assert client.get("/v1/models", headers={"x-forwarded-for": hop}).is_success
            assert_rate_limited(client.get("/v1/models", headers={"x-forwarded-for": "10.0.0.3"}))
    finally:
        stop_server(untrusted)
    trusted = limited_server(
        tmp_path / "trusted", rate_limit_per_ip="2/minute", trust_forwarded_for="true"
    )
    try:
        with httpx.Client(base_url=trusted.base_url, timeout=30) as client:
            first = {"x-forwarded-for": "10.0.0.1"}
            for _ in range(2):
                assert client.get("/v1/models", headers=first).is_success
            assert_rate_limited(client.get("/v1/models", headers=first))
            # The proxy's own hop (right-most) counts; a client-written hop before it does not.
            forged = {"x-forwarded-for": "203.0.113.9, 10.0.0.1"}
            assert_rate_limited(client.get("/v1/models", headers=forged))
            assert client.get("/v1/models", headers={"x-forwarded-for": "10.0.0.2"}).is_success
    finally:
        stop_server(trusted)


def test_two_processes_share_counters_in_redis(tmp_path: Path, redis_url: str) -> None:
    limit = 10
    servers = [
        limited_server(
            tmp_path / name, rate_limit_per_ip=f"{limit}/minute", rate_limit_storage=redis_url
        )
        for name in ("a", "b")
    ]
    try:
        clients = [httpx.Client(base_url=s.base_url, timeout=30) for s in servers]
        statuses = [clients[i % 2].get("/v1/models").status_code for i in range(limit)]
        assert statuses == [200] * limit
        # Each process alone has seen only half the limit: only shared counters refuse.
        assert_rate_limited(clients[0].get("/v1/models"))
        assert_rate_limited(clients[1].get("/v1/models"))
        for client in clients:
            client.close()
    finally:
        for server in servers:
            stop_server(server)


def test_unreachable_store_fails_open_with_a_warning(tmp_path: Path) -> None:
    nothing_listens = f"redis://127.0.0.1:{free_port()}/0"
    server = limited_server(
        tmp_path, rate_limit_per_ip="2/minute", rate_limit_storage=nothing_listens
    )
    try:
        with httpx.Client(base_url=server.base_url, timeout=30) as client:
            for _ in range(5):
                assert client.get("/v1/models").status_code == 200
        log = server.log()
        assert "rate limit store unavailable, not limiting" in log
        assert nothing_listens not in log
    finally:
        stop_server(server)


def _signup(client: httpx.Client, index: int) -> tuple[int, str | None]:
    body = {"human_email": f"flood{index}@example.com", "agent_name": f"bot{index}"}
    response = client.post("/v1/agent-signups", json=body)
    envelope: dict[str, Any] = response.json()
    if response.status_code == 429:
        assert_rate_limited(response)
    return response.status_code, (envelope.get("error") or {}).get("code")


def _granted_credits(database_url: str) -> int:
    engine = create_engine(to_sync_url(to_async_url(database_url)))
    try:
        with engine.connect() as connection:
            total = connection.execute(
                select(func.coalesce(func.sum(CreditLedgerEntry.amount), 0)).where(
                    CreditLedgerEntry.kind == ledger.GRANT
                )
            ).scalar_one()
        return int(total)
    finally:
        engine.dispose()


def test_signup_flood_from_one_address(database_url: str, tmp_path: Path) -> None:
    allowed, attempts, free_credits = 20, 500, 10
    server = limited_server(
        tmp_path,
        database_url,
        rate_limit_signup_per_ip=f"{allowed}/hour",
        free_preview_credits=str(free_credits),
    )
    try:
        with (
            httpx.Client(base_url=server.base_url, timeout=60) as client,
            ThreadPoolExecutor(max_workers=16) as pool,
        ):
            outcomes = Counter(pool.map(lambda i: _signup(client, i), range(attempts)))
    finally:
        stop_server(server)
    assert outcomes[(201, None)] == allowed, outcomes
    assert outcomes[(429, "RATE_LIMITED")] == attempts - allowed, outcomes
    assert _granted_credits(database_url) <= allowed * free_credits


def test_bridge_commands_count_against_the_callers_address(tmp_path: Path) -> None:
    """``/v1/cli`` runs commands through an in-process client: their calls are the caller's."""
    server = limited_server(tmp_path, rate_limit_signup_per_ip="2/hour", trust_forwarded_for="true")

    def bridged_signup(client: httpx.Client, address: str, index: int) -> httpx.Response:
        email, name = f"b{index}@example.com", f"b{index}"
        argv = ["signup", "--agent", "--human-email", email, "--agent-name", name, "--show-token"]
        return client.post("/v1/cli", json={"argv": argv}, headers={"x-forwarded-for": address})

    try:
        with httpx.Client(base_url=server.base_url, timeout=60) as client:
            for index in range(2):
                assert bridged_signup(client, "10.0.0.1", index).status_code == 200
            assert_rate_limited(bridged_signup(client, "10.0.0.1", 2))
            # Another caller is not refused for the first one's signups.
            assert bridged_signup(client, "10.0.0.2", 3).status_code == 200
    finally:
        stop_server(server)


def test_a_refused_hit_is_not_counted_against_longer_windows(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, rate_limit_signup_per_ip="2/minute;3/hour")

    async def run() -> tuple[list[int | None], int]:
        limiter = RateLimiter(settings)
        waits = [await limiter.hit("rate_limit_signup_per_ip", "198.51.100.7") for _ in range(6)]
        hour = limiter.items("rate_limit_signup_per_ip")[1]
        stats = await limiter.strategy.get_window_stats(
            hour, "rate_limit_signup_per_ip", hashed_key("198.51.100.7")
        )
        return waits, stats.remaining

    waits, hour_remaining = asyncio.run(run())
    assert waits[:2] == [None, None]
    assert all(wait is not None and 1 <= wait <= 60 for wait in waits[2:])
    assert hour_remaining == 1  # only the two admitted hits count for the hour
