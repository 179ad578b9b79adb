"""``feedback create`` through the real CLI against ``image-skill serve`` (SQLite and
PostgreSQL), plus one embedded run.

What is stored is read straight from the server's database. Secret-shaped
values are assembled at run time so this file holds none itself.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.orm import Session

from image_skill.contract.tokens import generate_token
from image_skill.service.db.models import ActivityEvent, Feedback
from image_skill.service.settings import to_async_url, to_sync_url
from tests.support.agents import CliAgent, cli_sign_up
from tests.support.cli import CliRun, RunCli, checked, expect
from tests.support.databases import blank_database
from tests.support.servers import Server, http_call, running_server

SIG_RE = re.compile(r"^sig_[0-9a-z]{26}$")
WEAK_GAPS = ["command", "evidence", "expected_actual"]

FULL_FLAGS = [
    "--type", "bug_report",
    "--title", "Jobs wait hangs",
    "--body", "jobs wait never returned for a completed job.",
    "--command", "image-skill jobs wait job_x --json",
    "--expected", "Returns at once",
    "--actual", "Polled until the timeout",
    "--friction", "Had to kill the process",
    "--proof-needed", "An e2e test of jobs wait on a completed job",
    "--strategic-reason", "Agents block on this call",
    "--surface", "cli,api",
    "--surface", "docs",
    "--evidence", "trace:trace_0123456789abcdef",
    "--evidence", "job:job_x",
    "--severity", "high",
    "--confidence", "high",
    "--next-state", "watch",
    "--dedupe-key", "jobs-wait-hangs",
    "--source", "e2e-agent",
    "--trace-id", "trace_0123456789abcdef",
]  # fmt: skip
FULL_STORED = {
    "type": "bug_report",
    "title": "Jobs wait hangs",
    "body": "jobs wait never returned for a completed job.",
    "command": "image-skill jobs wait job_x --json",
    "expected": "Returns at once",
    "actual": "Polled until the timeout",
    "friction": "Had to kill the process",
    "proof_needed": "An e2e test of jobs wait on a completed job",
    "strategic_reason": "Agents block on this call",
    "surface": ["cli", "api", "docs"],
    "evidence": ["trace:trace_0123456789abcdef", "job:job_x"],
    "severity": "high",
    "confidence": "high",
    "next_state": "watch",
    "dedupe_key": "jobs-wait-hangs",
    "source": "e2e-agent",
    "trace_id": "trace_0123456789abcdef",
    "occurrences": 1,
    "quality_warnings": [],
}


@dataclass
class Shared:
    """One server per database kind for the module; each test signs up its own agent."""

    server: Server
    db: Engine


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Shared]:
    workdir = tmp_path_factory.mktemp(f"feedback-{request.param}")
    env = {"IMAGE_SKILL_TELEMETRY": "off", "IMAGE_SKILL_ENVIRONMENT": "test"}
    with (
        blank_database(request.param, workdir) as database_url,
        running_server(database_url, workdir, extra_env=env) as server,
    ):
        engine = create_engine(to_sync_url(to_async_url(database_url)))
        try:
            yield Shared(server, engine)
        finally:
            engine.dispose()


@pytest.fixture
def server(shared: Shared) -> Server:
    return shared.server


@pytest.fixture
def run(cli: RunCli) -> RunCli:
    return checked(cli)


_names = iter(range(10_000))


@pytest.fixture
def me(run: RunCli, server: Server) -> CliAgent:
    name = f"fb{next(_names)}"
    return cli_sign_up(run, server.base_url, email=f"{name}@example.com", name=name, save=False)


def feedback(run: RunCli, server: Server, agent: CliAgent | None, *argv: str, **kw: Any) -> CliRun:
    env = {"IMAGE_SKILL_API_BASE_URL": server.base_url}
    if agent is not None:
        env["IMAGE_SKILL_TOKEN"] = agent.token
    return run("feedback", "create", *argv, env=env, **kw)


def row(db: Engine, feedback_id: str) -> Feedback:
    with Session(db) as session:
        found = session.get(Feedback, feedback_id)
        assert found is not None, feedback_id
        return found


def org_rows(db: Engine, agent: CliAgent) -> list[Feedback]:
    with Session(db) as session:
        query = select(Feedback).where(Feedback.organization_id == agent.actor["organization_id"])
        return list(session.execute(query).scalars())


def events_for(db: Engine, feedback_id: str) -> list[ActivityEvent]:
    with Session(db) as session:
        query = select(ActivityEvent).where(
            ActivityEvent.type == "feedback.created", ActivityEvent.subject_id == feedback_id
        )
        return list(session.execute(query).scalars())


def feedback_count(db: Engine) -> int:
    with db.connect() as conn:
        return int(conn.execute(text("SELECT COUNT(*) FROM feedback")).scalar_one())


# -- storing ---------------------------------------------------------------------------


def test_title_only_is_stored_with_three_weak_signal_warnings(
    run: RunCli, shared: Shared, me: CliAgent
) -> None:
    envelope = expect(feedback(run, shared.server, me, "--title", "Confusing signup", "--json"), 0)
    data = envelope["data"]
    assert envelope["command"] == "image-skill feedback create"
    assert SIG_RE.match(data["feedback_id"]) and data["stored"] is True
    assert data["quality"]["missing"] == WEAK_GAPS and len(envelope["warnings"]) == 3
    assert envelope["warnings"] == data["quality"]["warnings"]
    for gap, warning in zip(["command", "evidence", "expected"], envelope["warnings"], strict=True):
        assert gap in warning
    stored = row(shared.db, data["feedback_id"])
    assert (stored.title, stored.type, stored.severity) == (
        "Confusing signup",
        "user_feedback",
        "medium",
    )
    assert len(stored.quality_warnings) == 3
    assert len(events_for(shared.db, data["feedback_id"])) == 1

    human = feedback(run, shared.server, me, "--body", "Also the docs.")
    assert human.exit_code == 0, human.stderr
    feedback_id = re.search(r"^feedback: (sig_\S+)$", human.stdout, re.M)
    assert feedback_id and row(shared.db, feedback_id.group(1)).body == "Also the docs."
    assert "missing: command, evidence, expected/actual" in human.stdout
    assert human.stderr.count("warning: Weak signal") == 3


def test_every_flag_is_sent_and_stored_as_given(run: RunCli, shared: Shared, me: CliAgent) -> None:
    envelope = expect(feedback(run, shared.server, me, *FULL_FLAGS, "--json"), 0)
    assert envelope["warnings"] == [] and envelope["data"]["quality"]["level"] == "strong"
    stored = row(shared.db, envelope["data"]["feedback_id"])
    for field, value in FULL_STORED.items():
        assert getattr(stored, field) == value, field

    human = feedback(run, shared.server, me, *FULL_FLAGS[2:4], "--allow-weak-signal")
    assert human.exit_code == 0 and human.stderr == ""
    assert re.search(r"^quality:  weak \(missing: ", human.stdout, re.M)


def test_allow_weak_signal_suppresses_the_warnings(
    run: RunCli, shared: Shared, me: CliAgent
) -> None:
    argv = ("--title", "Quiet", "--allow-weak-signal", "--json")
    envelope = expect(feedback(run, shared.server, me, *argv), 0)
    assert envelope["warnings"] == [] and envelope["data"]["quality"]["warnings"] == []
    assert envelope["data"]["quality"]["missing"] == WEAK_GAPS
    assert row(shared.db, envelope["data"]["feedback_id"]).quality_warnings == []


def test_token_from_stdin(run: RunCli, shared: Shared, me: CliAgent) -> None:
    env = {"IMAGE_SKILL_API_BASE_URL": shared.server.base_url}
    result = run(
        "feedback", "create", "--title", "Via stdin", "--token-stdin", "--json",
        stdin=me.token + "\n", env=env,
    )  # fmt: skip
    envelope = expect(result, 0)
    assert envelope["actor"]["actor_id"] == me.actor["actor_id"]


# -- dedupe ----------------------------------------------------------------------------


def test_a_repeated_dedupe_key_merges(run: RunCli, shared: Shared, me: CliAgent) -> None:
    first = expect(
        feedback(run, shared.server, me, "--title", "Flaky", "--dedupe-key", "flaky",
                 "--surface", "cli", "--json"),
        0,
    )["data"]  # fmt: skip
    again = expect(
        feedback(run, shared.server, me, "--title", "Flaky", "--dedupe-key", "flaky",
                 "--surface", "api", "--evidence", "job:job_9", "--json"),
        0,
    )  # fmt: skip
    data = again["data"]
    assert (data["feedback_id"], data["deduplicated"]) == (first["feedback_id"], True)
    assert data["occurrences"] == 2
    assert any("Merged" in w for w in again["warnings"])
    stored = row(shared.db, first["feedback_id"])
    assert (stored.occurrences, stored.surface, stored.evidence) == (
        2,
        ["cli", "api"],
        ["job:job_9"],
    )
    assert len(org_rows(shared.db, me)) == 1
    assert len(events_for(shared.db, first["feedback_id"])) == 1


def _post(server: Server, token: str | None, body: Any) -> tuple[int, dict[str, Any]]:
    status, _headers, raw = http_call(server, "POST", "/v1/feedback", body, token, timeout=30)
    return status, json.loads(raw)


def test_concurrent_repeats_merge_without_errors(shared: Shared, me: CliAgent) -> None:
    burst = 12
    body = {"title": "Burst", "dedupe_key": "burst", "allow_weak_signal": True}
    with ThreadPoolExecutor(burst) as pool:
        answers = list(pool.map(lambda i: _post(shared.server, me.token, {**body,
                       "surface": [f"s{i}"]}), range(burst)))  # fmt: skip
    assert sorted(status for status, _ in answers) == [200] * (burst - 1) + [201], answers
    ids = {envelope["data"]["feedback_id"] for _, envelope in answers}
    assert len(ids) == 1
    assert sorted(envelope["data"]["occurrences"] for _, envelope in answers) == list(
        range(1, burst + 1)
    )
    [stored] = org_rows(shared.db, me)
    assert stored.occurrences == burst and sorted(stored.surface) == sorted(
        f"s{i}" for i in range(burst)
    )
    assert len(events_for(shared.db, stored.id)) == 1


# -- secrets ---------------------------------------------------------------------------


def _secret_cases() -> list[tuple[list[str], str, str]]:
    """(flags, field reported, the secret) for text, list and evidence fields."""
    stripe = "sk_" + "live_" + "Qw3Er4Ty5Ui6"
    github = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    aws = "AKIA" + "IOSFODNN7EXAMPLE"
    pem = "-----BEGIN " + "OPENSSH PRIVATE KEY-----"
    bearer = "Bearer " + "Zx9Cv8Bn7Mm6Ll5Kk4Jj3Hh2"
    token = generate_token()
    return [
        (["--title", "t", "--body", f"my token is {token}"], "body", token),
        (["--title", f"key {stripe} fails"], "title", stripe),
        (["--title", "t", "--command", f"curl -H 'Authorization: {bearer}'"], "command", bearer),
        (["--title", "t", "--expected", "ok", "--actual", pem], "actual", pem),
        (["--title", "t", "--surface", f"cli,{aws}"], "surface", aws),
        (["--title", "t", "--evidence", "trace:x", "--evidence", github], "evidence", github),
        (["--title", "t", "--dedupe-key", stripe], "dedupe_key", stripe),
    ]


def test_secrets_are_never_stored_echoed_or_logged(
    run: RunCli, shared: Shared, me: CliAgent
) -> None:
    before = feedback_count(shared.db)
    for flags, field, secret in _secret_cases():
        result = feedback(run, shared.server, me, *flags, "--json")
        envelope = expect(result, 0)
        assert envelope["data"] == {
            "stored": False,
            "feedback_id": None,
            "reason": "possible_secret",
            "field": field,
        }, flags
        assert len(envelope["warnings"]) == 1 and f"'{field}'" in envelope["warnings"][0]
        assert secret not in result.stdout + result.stderr
        assert secret not in shared.server.log()
    flags, field, secret = _secret_cases()[0]
    human = feedback(run, shared.server, me, *flags)
    assert human.exit_code == 0 and f"not stored: the '{field}' field" in human.stdout
    assert secret not in human.stdout + human.stderr + shared.server.log()
    assert feedback_count(shared.db) == before
    assert org_rows(shared.db, me) == []


# -- refusals --------------------------------------------------------------------------


def test_missing_title_and_body_is_exit_2(run: RunCli, shared: Shared, me: CliAgent) -> None:
    for argv in (["--command", "x"], ["--title", "  ", "--body", ""]):
        envelope = expect(feedback(run, shared.server, me, *argv, "--json"), 2, "INVALID_ARGUMENTS")
        assert envelope["error"]["recovery"]["required_flag"] == "--title"
    bad = expect(
        feedback(run, shared.server, me, "--title", "t", "--severity", "urgent", "--json"),
        2,
        "INVALID_ARGUMENTS",
    )
    assert "severity" in bad["error"]["message"]
    bare = expect(run("feedback", "--json"), 2, "INVALID_ARGUMENTS")
    assert bare["error"]["message"].endswith("needs a subcommand: create.")
    assert org_rows(shared.db, me) == []


def test_no_token_is_exit_3(run: RunCli, shared: Shared) -> None:
    before = feedback_count(shared.db)
    expect(feedback(run, shared.server, None, "--title", "t", "--json"), 3, "AUTH_REQUIRED")
    bad = CliAgent(generate_token(), {})
    expect(feedback(run, shared.server, bad, "--title", "t", "--json"), 3, "AUTH_INVALID")
    assert feedback_count(shared.db) == before


def test_storage_failure_is_exit_1_and_stores_nothing(
    run: RunCli, shared: Shared, me: CliAgent
) -> None:
    with shared.db.begin() as conn:
        conn.execute(text("ALTER TABLE feedback RENAME TO feedback_parked"))
    try:
        result = feedback(run, shared.server, me, "--title", "Parked-7d1e", "--json")
        envelope = expect(result, 1, "FEEDBACK_STORAGE_UNAVAILABLE")
        assert envelope["error"]["retryable"] is True
        assert "feedback storage failed" in shared.server.log()
        assert "Parked-7d1e" not in shared.server.log()
    finally:
        with shared.db.begin() as conn:
            conn.execute(text("ALTER TABLE feedback_parked RENAME TO feedback"))
    assert org_rows(shared.db, me) == []
    with Session(shared.db) as session:
        query = select(ActivityEvent).where(
            ActivityEvent.organization_id == me.actor["organization_id"],
            ActivityEvent.type == "feedback.created",
        )
        assert list(session.execute(query).scalars()) == []


# -- the ledger ------------------------------------------------------------------------


def test_activity_show_finds_the_feedback(run: RunCli, shared: Shared, me: CliAgent) -> None:
    created = expect(feedback(run, shared.server, me, "--title", "Ledger", "--json"), 0)
    feedback_id = created["data"]["feedback_id"]
    env = {"IMAGE_SKILL_API_BASE_URL": shared.server.base_url, "IMAGE_SKILL_TOKEN": me.token}
    shown = expect(run("activity", "show", feedback_id, "--json", env=env), 0)
    text_ = json.dumps(shown["data"])
    assert '"feedback.created"' in text_ and feedback_id in text_


def test_embedded_feedback_needs_no_server(run: RunCli) -> None:
    envelope = expect(run("feedback", "create", "--title", "Local", "--json"), 0)
    assert SIG_RE.match(envelope["data"]["feedback_id"])
    assert envelope["actor"] is not None and len(envelope["warnings"]) == 3
