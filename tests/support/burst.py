"""Hundreds of creates waiting on a slow provider, and healthz probed while they wait.

The scenario behind ``bench/provider_concurrency.py`` (which prints its figures)
and ``tests/service/test_provider_concurrency.py`` (which asserts on them); the
ledger burst of ``tests/service/test_ledger_concurrency.py`` reuses its HTTP
helpers. Servers run the test plugin's ``test.slow`` model (an asynchronous sleep
per call), which counts the calls in flight into a log this module reads.

Every request gets its own thread and connection, released together at a
barrier; healthz is probed from a separate process (``python -m
tests.support.burst --probe URL``) so the client threads' GIL contention is not
measured as server latency.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parents[2]
PLUGIN = "tests.plugins.counting_provider"
SLOW_MODEL = "test.slow"
SLOW_LOG_ENV = "IMAGE_SKILL_TEST_SLOW_LOG"
CREATES = int(os.environ.get("BENCH_CREATES", "200"))
# 200 probes (about 5 s) cover the admission storm and the in-flight plateau after it.
# The first one or two probes land while 200 connections arrive at once on two cores
# shared with the 200 client threads, and measure that contention as much as the server.
PROBES = 200
PROBE_INTERVAL = 0.02

T = TypeVar("T")


@dataclass
class Figures:
    """What one burst measured."""

    label: str
    creates: int
    statuses: Counter[tuple[int, str | None]]
    in_flight_peak: int
    create_wall_seconds: float
    healthz_ms: list[float] = field(default_factory=list)
    healthz_statuses: Counter[int] = field(default_factory=Counter)

    @property
    def succeeded(self) -> int:
        return self.statuses[(201, None)]

    @property
    def healthz_p50_ms(self) -> float:
        return statistics.median(self.healthz_ms)

    @property
    def healthz_p99_ms(self) -> float:
        ordered = sorted(self.healthz_ms)
        return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]

    def line(self) -> str:
        return (
            f"[provider-concurrency] {self.label}: {self.succeeded}/{self.creates} creates ok, "
            f"in-flight peak {self.in_flight_peak}, create wall {self.create_wall_seconds:.2f} s, "
            f"healthz p50 {self.healthz_p50_ms:.1f} ms p99 {self.healthz_p99_ms:.1f} ms "
            f"max {max(self.healthz_ms):.1f} ms ({len(self.healthz_ms)} probes)"
        )


def plugin_env(workdir: Path) -> dict[str, str]:
    """Environment for a test-mode server (config in ``workdir``) that loads the test plugin."""
    paths = [str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]
    return {
        "IMAGE_SKILL_ENVIRONMENT": "test",
        "IMAGE_SKILL_TELEMETRY": "off",
        "IMAGE_SKILL_CONFIG_PATH": str(workdir / "config.json"),
        "IMAGE_SKILL_PLUGINS": PLUGIN,
        "PYTHONPATH": os.pathsep.join(path for path in paths if path),
    }


def server_env(workdir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a server with the test plugin, a slow log and room for a big burst."""
    env = {
        **plugin_env(workdir),
        SLOW_LOG_ENV: str(slow_log(workdir)),
        "IMAGE_SKILL_FREE_PREVIEW_CREDITS": "100000",
        "IMAGE_SKILL_FREE_PREVIEW_DAILY_CEILING": "100000000",
        "IMAGE_SKILL_DAILY_JOB_CAP_UNCLAIMED": "100000",
        "IMAGE_SKILL_PROVIDER_CONCURRENCY": "500",
    }
    env.update(extra or {})
    return env


def slow_log(workdir: Path) -> Path:
    """Where the server's ``test.slow`` writes ``<event> <job> <in_flight> <peak>`` lines."""
    return workdir / "slow-calls.log"


def in_flight(workdir: Path) -> tuple[int, int]:
    """(calls in flight now, peak so far) according to the server's slow log."""
    path = slow_log(workdir)
    if not path.exists():
        return 0, 0
    lines = [line.split() for line in path.read_text().splitlines() if line.strip()]
    if not lines:
        return 0, 0
    return int(lines[-1][2]), max(int(parts[3]) for parts in lines)


# --- HTTP -------------------------------------------------------------------------------


def connection(base_url: str, timeout: float = 120) -> http.client.HTTPConnection:
    parts = urlsplit(base_url)
    assert parts.hostname is not None and parts.port is not None
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)


def send(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    token: str | None = None,
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, envelope, lower-cased headers) of one request on ``conn``."""
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=payload, headers=headers)
    response = conn.getresponse()
    raw = response.read()
    try:
        envelope = json.loads(raw)
    except ValueError:
        envelope = {"error": {"code": f"NOT_JSON: {raw[:200]!r}"}}
    return response.status, envelope, {k.lower(): v for k, v in response.getheaders()}


def call(
    base_url: str,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    token: str | None = None,
) -> tuple[int, dict[str, Any], dict[str, str]]:
    conn = connection(base_url)
    try:
        return send(conn, method, path, body, token)
    finally:
        conn.close()


def code_of(envelope: dict[str, Any]) -> str | None:
    error = envelope.get("error")
    return None if error is None else str(error["code"])


def signup(base_url: str, name: str = "burst") -> tuple[str, str]:
    """(token, actor_id) of a fresh agent (credits come from the free preview)."""
    status, envelope, _ = call(
        base_url,
        "POST",
        "/v1/agent-signups",
        {
            "human_email": f"{name}@example.com",
            "agent_name": name,
            "runtime": "bench",
            "return_token": True,
        },
    )
    assert status == 201, envelope
    token = str(envelope["data"]["token"])
    status, envelope, _ = call(base_url, "GET", "/v1/quota", token=token)
    assert status == 200, envelope
    return token, str(envelope["actor"]["actor_id"])


def creates(n: int, **parameters: Any) -> list[dict[str, Any]]:
    """``n`` create bodies for ``test.slow``."""
    return [
        {
            "prompt": f"slow harbour {i}",
            "model": SLOW_MODEL,
            "model_parameters": {"seed": i, "long_edge": 16, **parameters},
        }
        for i in range(n)
    ]


def fire(
    base_url: str,
    token: str,
    bodies: list[dict[str, Any]],
    on_release: Callable[[], None] | None = None,
) -> tuple[list[tuple[int, dict[str, Any], dict[str, str]]], float]:
    """POST every body to /v1/create at once (one thread and connection each).

    Every thread connects first and waits at a barrier so the requests leave
    together; returns the answers and the wall time from release to the last.
    """

    def create(
        conn: http.client.HTTPConnection, body: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        return send(conn, "POST", "/v1/create", body, token)

    return fire_each(base_url, bodies, create, on_release)


def fire_each(
    base_url: str,
    bodies: list[dict[str, Any]],
    request: Callable[[http.client.HTTPConnection, dict[str, Any]], T],
    on_release: Callable[[], None] | None = None,
) -> tuple[list[T], float]:
    """``fire`` with any ``request(conn, body)`` in place of the plain create."""
    barrier = threading.Barrier(len(bodies) + 1)

    def one(body: dict[str, Any]) -> T:
        conn = connection(base_url)
        try:
            conn.connect()
            barrier.wait(timeout=60)
            return request(conn, body)
        finally:
            conn.close()

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        futures = [pool.submit(one, body) for body in bodies]
        barrier.wait(timeout=60)
        started = time.monotonic()
        if on_release is not None:
            on_release()
        answers = [future.result(timeout=120) for future in futures]
        elapsed = time.monotonic() - started
    return answers, elapsed


def probe_healthz(base_url: str, go: Callable[[], None] | None = None) -> dict[str, Any]:
    """``PROBES`` healthz calls, ``PROBE_INTERVAL`` apart, on one keep-alive connection.

    Returns ``{"ms": [latencies], "statuses": {status: count}}``. ``go`` (if given)
    is called once the connection is open, and must return when probing should start.
    """
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    conn = connection(base_url, timeout=30)
    try:
        conn.connect()
        if go is not None:
            go()
        for _ in range(PROBES):
            started = time.perf_counter()
            status, _envelope, _headers = send(conn, "GET", "/healthz")
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[status] += 1
            time.sleep(PROBE_INTERVAL)
    finally:
        conn.close()
    return {"ms": latencies, "statuses": dict(statuses)}


def start_prober(base_url: str) -> subprocess.Popen[str]:
    """A separate process that probes healthz once told to (a line on its stdin).

    In its own process, as a load balancer would be: in this one, the 200 client
    threads' contention for the GIL would be measured as server latency.
    """
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.burst", "--probe", base_url],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def run_burst(base_url: str, workdir: Path, label: str, n: int = CREATES) -> Figures:
    """The scenario: ``n`` slow creates at once, healthz probed while they run."""
    token, _actor = signup(base_url)
    call(base_url, "GET", "/healthz")  # warm the probe path
    prober = start_prober(base_url)
    assert prober.stdin is not None and prober.stdout is not None
    assert prober.stdout.readline().strip() == "ready"

    def release_prober() -> None:
        assert prober.stdin is not None
        prober.stdin.write("go\n")
        prober.stdin.flush()

    # The prober starts as the creates are released, so its probes overlap the burst.
    answers, elapsed = fire(base_url, token, creates(n), on_release=release_prober)
    output, _ = prober.communicate(timeout=60)
    probed = json.loads(output)
    statuses = Counter((status, code_of(envelope)) for status, envelope, _ in answers)
    _now, peak = in_flight(workdir)
    health = Counter({int(status): count for status, count in probed["statuses"].items()})
    return Figures(label, n, statuses, peak, elapsed, probed["ms"], health)


def _probe_main(base_url: str) -> None:
    def wait_for_go() -> None:
        print("ready", flush=True)
        sys.stdin.readline()

    print(json.dumps(probe_healthz(base_url, wait_for_go)), flush=True)


if __name__ == "__main__":
    assert sys.argv[1] == "--probe", sys.argv
    _probe_main(sys.argv[2])
