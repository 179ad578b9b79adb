"""Pooled PostgreSQL connections cut while idle (a restart, a failover) never reach a request.

Connections are pinged before use only after sitting idle (``db.engine``), not at
every checkout; this holds the service to answering normally once the database
has dropped every connection it had open.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg

from image_skill.service.db.engine import PING_AFTER_IDLE_SECONDS
from tests.support.burst import call, signup
from tests.support.databases import blank_database
from tests.support.servers import running_server


def _cut_connections(database_url: str) -> int:
    """Terminate every other session on the test database; returns how many."""
    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(database_url, autocommit=True) as conn:
        cut = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchone()
    assert cut is not None
    return int(cut[0])


def test_requests_after_the_database_cut_every_connection_are_answered(tmp_path: Path) -> None:
    with (
        blank_database("postgres", tmp_path) as url,
        running_server(url, tmp_path) as server,
    ):
        token, _actor = signup(server.base_url, "pings")
        # Several connections into the pool at once, so more than one is cut.
        with ThreadPoolExecutor(4) as pool:
            warm = list(
                pool.map(lambda _: call(server.base_url, "GET", "/v1/quota", token=token), range(8))
            )
        assert all(status == 200 for status, _envelope, _ in warm), warm
        assert _cut_connections(url) >= 2
        time.sleep(PING_AFTER_IDLE_SECONDS + 0.5)
        for _ in range(6):
            status, envelope, _ = call(server.base_url, "GET", "/v1/quota", token=token)
            assert status == 200, envelope
