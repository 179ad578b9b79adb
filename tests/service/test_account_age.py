"""A create and ``GET /v1/quota`` cost the same for an agent with 10,000 past jobs as
for a new one (issue 15): the same statements, and each reads only today's rows.

Nothing here is timed (``bench/account_age.py`` prints the times). The proof is
what the database is asked and how much it reads: the statements a create and a
quota send are recorded (SQLAlchemy's engine events) for a new agent and for an
old one, their shapes must match, and the old agent's statements are explained
with their own parameters: on PostgreSQL the rows each touches in ``jobs`` and
``credit_ledger_entries`` (``EXPLAIN ANALYZE``) must be what the new agent's
touch, give or take today's few; on SQLite no statement may scan either table
whole or search it by the actor alone.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.support.agents import Agent, sign_up
from tests.support.apps import started_app
from tests.support.history import add_history
from tests.support.ledger import audit_account, ledger_sum
from tests.support.plans import rows_touched, sqlite_plan
from tests.support.statements import StatementLog, statement_log

HISTORY = 10_000
SKETCH: dict[str, Any] = {"model": "local.sketch", "model_parameters": {"long_edge": 64}}
HISTORY_TABLES = ("jobs", "credit_ledger_entries")
# The request's wait for its job polls the job's status as often as timing decides.
POLL = re.compile(r"^\s*SELECT jobs\.status\s+FROM jobs\s+WHERE jobs\.id = ")
# Background loops (sweeper, heartbeats) are slowed to keep them out of the window.
QUIET: dict[str, Any] = {"sweep_interval_seconds": 3600, "job_heartbeat_seconds": 600}


def _run(agent: Agent) -> tuple[StatementLog, StatementLog]:
    with statement_log() as created:
        response = agent.create(**SKETCH)
    assert response.status_code == 201, response.text
    with statement_log() as quota:
        agent.quota()
    return created, quota


def _shape(log: StatementLog) -> Counter[str]:
    """Statements by verb and first table, leaving out the waiter's polls (and the
    commit of each: a poll is a read transaction of its own)."""
    shape: Counter[str] = Counter()
    polls = 0
    for statement in log.statements:
        if POLL.match(statement.sql):
            polls += 1
            continue
        table = re.search(r"\b(?:FROM|INTO|UPDATE)\s+(\w+)", statement.sql)
        shape[f"{statement.verb} {table.group(1) if table else '-'}"] += 1
    shape["COMMIT"] = log.commits - polls
    return shape


@pytest.mark.slow
def test_an_old_account_costs_what_a_new_one_does(
    database_url: str, tmp_path: Path, db: Engine
) -> None:
    with started_app(database_url, tmp_path / "home", **QUIET) as client:
        new, old = sign_up(client, name="new"), sign_up(client, name="old")
        add_history(db, old.organization_id, old.actor_id, HISTORY)
        before = old.quota()["credits"]["balance"]
        for agent in (new, old):  # first calls warm caches (models, plans, pools)
            assert agent.create(**SKETCH).status_code == 201
        new_create, new_quota = _run(new)
        old_create, old_quota = _run(old)
        after = old.quota()
    # The running figures are the ledger's: the history's debits plus today's two.
    assert after["credits"]["balance"] == ledger_sum(db, old.actor_id)
    spent = before - after["credits"]["balance"]
    assert spent > 0
    assert after["spending"]["spent_total_credits"] == HISTORY + spent
    assert after["spending"]["spent_today_credits"] == spent
    assert after["jobs"]["used_today"] == 2
    audit_account(db, old.actor_id).check()
    audit_account(db, new.actor_id).check()
    assert _shape(old_create) == _shape(new_create)
    assert _shape(old_quota) == _shape(new_quota)
    if db.dialect.name == "postgresql":
        for new_log, old_log in ((new_create, old_create), (new_quota, old_quota)):
            fresh = [rows_touched(db, s, HISTORY_TABLES) for s in new_log.statements]
            aged = [rows_touched(db, s, HISTORY_TABLES) for s in old_log.statements]
            assert sum(aged) <= sum(fresh) + 10, (sum(aged), sum(fresh))
    else:
        for statement in old_create.statements + old_quota.statements:
            for line in sqlite_plan(db, statement):
                assert not re.match(r"SCAN (jobs|credit_ledger_entries)\b", line), (
                    line,
                    statement.sql,
                )
                # Searched by the actor alone would read its whole history.
                history = r"SEARCH (jobs|credit_ledger_entries) .*\(actor_id=\?\)$"
                by_actor = re.match(history, line)
                assert not by_actor, (line, statement.sql)
