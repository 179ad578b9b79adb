"""Hundreds of creates waiting on a slow provider: the service keeps answering.

Run from the repository root: ``.venv/bin/python -m bench.provider_concurrency
[sqlite|postgres]`` (PostgreSQL needs ``IMAGE_SKILL_TEST_POSTGRES_URL``; a fresh
database is created and dropped).

Starts a real ``image-skill serve`` with the test plugin's ``test.slow`` model
(2 s asynchronous sleep per call), signs up one agent with plenty of credits,
fires ``BENCH_CREATES`` (default 200) creates at once, one thread and connection
each, and probes ``GET /healthz`` from a separate process every 20 ms while they
run. Prints the peak number of provider calls in flight at once (counted by the
plugin inside the server), the wall time of the burst, and healthz p50/p99.

The scenario lives in ``tests/support/burst.py``;
``tests/service/test_provider_concurrency.py`` runs it too and asserts on the figures.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from tests.support.burst import CREATES, run_burst, server_env
from tests.support.databases import PG_URL_ENV, create_pg_database, drop_pg_database
from tests.support.servers import start_server, stop_server


def main() -> None:
    """Run the burst on the database kind named on the command line and print figures."""
    kind = sys.argv[1] if len(sys.argv) > 1 else "sqlite"
    workdir = Path(tempfile.mkdtemp(prefix="isk-bench-concurrency-"))
    admin = os.environ.get(PG_URL_ENV)
    database_url = f"sqlite:///{workdir / 'bench.db'}"
    if kind == "postgres":
        if not admin:
            raise SystemExit(f"set {PG_URL_ENV} for the PostgreSQL run")
        database_url = create_pg_database(admin)
    server = start_server(database_url, workdir, extra_env=server_env(workdir))
    try:
        figures = run_burst(server.base_url, workdir, f"{CREATES} creates of test.slow on {kind}")
    finally:
        stop_server(server)
        if kind == "postgres" and admin:
            drop_pg_database(admin, database_url)
    print(figures.line())
    print(f"create outcomes: {dict(figures.statuses)}; healthz: {dict(figures.healthz_statuses)}")


if __name__ == "__main__":
    main()
