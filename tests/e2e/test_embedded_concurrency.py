"""Several CLI processes racing on a fresh embedded data directory.

The first use of a data dir migrates the database and creates the local owner;
agents start many CLI processes at once, so that first use must be race-free.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import CLI
from tests.support.envelopes import assert_envelope

WORKERS = 6


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _finish(processes: list[subprocess.Popen[str]]) -> list[dict[str, Any]]:
    envelopes = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, f"exit {process.returncode}\n{stdout}\n{stderr}"
        envelope = json.loads(stdout)
        assert_envelope(envelope, ok=True)
        envelopes.append(envelope)
    return envelopes


@pytest.mark.slow
def test_concurrent_first_use_signup_and_whoami(isolated_home: Path) -> None:
    data_dir = Path(os.environ["IMAGE_SKILL_HOME"])
    assert not data_dir.exists(), "the race needs a fresh data dir"
    env = {**os.environ, "IMAGE_SKILL_DEBUG": "1"}  # a crash shows its traceback on stderr

    signups = [
        _start(
            [
                "signup",
                "--agent",
                "--human-email",
                "racer@example.com",
                "--agent-name",
                f"bot-{n}",
                "--show-token",
                "--json",
            ],
            env,
        )
        for n in range(WORKERS)
    ]
    created = _finish(signups)
    agent_ids = [envelope["actor"]["actor_id"] for envelope in created]
    assert len(set(agent_ids)) == WORKERS
    # One email groups nothing: each agent starts alone in its own organization.
    assert len({envelope["actor"]["organization_id"] for envelope in created}) == WORKERS

    # Even workers ask as their agent, odd ones as the machine's owner (no token).
    whoamis = [
        _start(
            ["whoami", "--json"],
            {**env, "IMAGE_SKILL_TOKEN": envelope["data"]["token"]} if n % 2 == 0 else env,
        )
        for n, envelope in enumerate(created)
    ]
    answers = _finish(whoamis)
    as_agent = answers[0::2]
    as_owner = answers[1::2]
    assert [answer["actor"]["actor_id"] for answer in as_agent] == agent_ids[0::2]
    assert all(answer["data"]["token_class"] == "restricted_agent" for answer in as_agent)
    owners = {answer["actor"]["actor_id"] for answer in as_owner}
    assert len(owners) == 1
    assert all(answer["data"]["local_owner"] for answer in as_owner)

    database = data_dir / "image-skill.db"
    with sqlite3.connect(database) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        local_owners = conn.execute("SELECT id FROM actors WHERE is_local_owner = 1").fetchall()
        assert [row[0] for row in local_owners] == list(owners)
        agents = conn.execute("SELECT id FROM actors WHERE actor_type = 'agent'").fetchall()
        assert sorted(row[0] for row in agents) == sorted(agent_ids)
        # The email is only each agent's sponsor: signup creates no (unverified) human.
        sponsored = conn.execute(
            "SELECT count(*) FROM actors WHERE sponsor_email = 'racer@example.com'"
        ).fetchone()
        assert sponsored == (WORKERS,)
        assert conn.execute(
            "SELECT count(*) FROM actors WHERE email = 'racer@example.com'"
        ).fetchone() == (0,)
        grants = conn.execute(
            "SELECT count(*) FROM credit_ledger_entries WHERE reason = 'free_preview'"
        ).fetchone()
        assert grants == (WORKERS,)
        assert conn.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)
