"""Does a request cost more for an old account? A create and ``GET /v1/quota`` timed for
a new agent and for one with 10,000 past jobs, on the same server, interleaved.

Run from the repository root::

    .venv/bin/python -m bench.account_age [sqlite|postgres] [--requests N] [--history N] [--tiny]

Starts ``image-skill serve`` on a fresh database (PostgreSQL needs
``IMAGE_SKILL_TEST_POSTGRES_URL``), signs up two agents and bulk-inserts the
old one's history (completed ``local.sketch`` creates with their ledger rows,
before today: ``tests/support/history.py``). Then it alternates the two agents,
one request at a time, so both see the same machine: N creates each, then N
quotas each. Prints p50 and p90 per agent and the old/new ratio of the p50s
(1.00 means the account's age costs nothing). Issue 15 measured ``GET /v1/quota``
going from 11 to 25 ms as one agent went from 351 to 5,081 jobs.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine
from tests.support.burst import call, signup
from tests.support.databases import blank_database
from tests.support.history import add_history
from tests.support.servers import start_server, stop_server

from image_skill.service.settings import to_async_url, to_sync_url

SKETCH = {
    "prompt": "a quiet harbour",
    "model": "local.sketch",
    "model_parameters": {"long_edge": 64},
}
ENV = {"IMAGE_SKILL_DAILY_JOB_CAP_UNCLAIMED": "1000000", "IMAGE_SKILL_TELEMETRY": "off"}


def _status(base: str, method: str, path: str, body: dict[str, Any] | None, token: str) -> int:
    return call(base, method, path, body, token=token)[0]


def timed(request: Callable[[], int], expected: int) -> float:
    """Milliseconds one request took (it must answer ``expected``)."""
    start = time.perf_counter()
    status = request()
    elapsed = (time.perf_counter() - start) * 1000
    assert status == expected, status
    return elapsed


def figures(samples: list[float]) -> tuple[float, float]:
    """(p50, p90) in ms."""
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.9) - 1]


def main() -> None:
    """Run the comparison and print it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", nargs="?", default="sqlite", choices=("sqlite", "postgres"))
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--history", type=int, default=10_000)
    parser.add_argument("--tiny", action="store_true", help="3 requests, 200 past jobs (CI)")
    args = parser.parse_args()
    if args.tiny:
        args.requests, args.history = 3, 200
    workdir = Path(tempfile.mkdtemp(prefix="account-age-"))
    with blank_database(args.kind, workdir) as url:
        server = start_server(url, workdir, ENV)
        try:
            base = server.base_url
            agents = {name: signup(base, name) for name in ("new", "old")}
            db = create_engine(to_sync_url(to_async_url(url)))
            for name, (token, actor_id) in agents.items():
                _code, envelope, _ = call(base, "GET", "/v1/whoami", token=token)
                organization = envelope["actor"]["organization_id"]
                history = args.history if name == "old" else 0
                add_history(db, organization, actor_id, history, credits=10 * args.requests)
            db.dispose()
            samples: dict[str, dict[str, list[float]]] = {
                "create": {"new": [], "old": []},
                "quota": {"new": [], "old": []},
            }
            for what, path, body, expected in (
                ("create", "/v1/create", SKETCH, 201),
                ("quota", "/v1/quota", None, 200),
            ):
                method = "POST" if body else "GET"
                for round_ in range(args.requests + 5):
                    for name, (token, _actor) in agents.items():
                        request = partial(_status, base, method, path, body, token)
                        elapsed = timed(request, expected)
                        if round_ >= 5:  # the first few warm both paths
                            samples[what][name].append(elapsed)
        finally:
            stop_server(server)
    print(
        f"{args.kind}: {args.requests} requests per agent and kind, old agent {args.history} jobs"
    )
    for what, by_agent in samples.items():
        new50, new90 = figures(by_agent["new"])
        old50, old90 = figures(by_agent["old"])
        print(
            f"  {what:6} new p50 {new50:6.1f} ms p90 {new90:6.1f} | "
            f"old p50 {old50:6.1f} ms p90 {old90:6.1f} | old/new p50 {old50 / new50:.2f}x"
        )


if __name__ == "__main__":
    main()
