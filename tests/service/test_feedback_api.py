"""``POST /v1/feedback`` on both databases: stored as given, quality guidance, dedupe,
no secrets kept, and fail-closed storage.

Secret-shaped values are assembled at run time so this file holds none itself.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session as SyncSession

from image_skill.contract.tokens import generate_token
from image_skill.service.app import create_app
from image_skill.service.db.models import ActivityEvent, Feedback
from image_skill.service.feedback import service as store
from image_skill.service.feedback.quality import WARNINGS
from image_skill.service.settings import to_async_url, to_sync_url
from tests.support.agents import Agent, sign_up
from tests.support.apps import service_settings
from tests.support.databases import blank_database
from tests.support.envelopes import check_error, ok
from tests.support.routes import route_table

SIG_RE = re.compile(r"^sig_[0-9a-z]{26}$")
ISO_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
WEAK = [WARNINGS["command"], WARNINGS["evidence"], WARNINGS["expected_actual"]]

FULL: dict[str, Any] = {
    "type": "bug_report",
    "title": "Edit ignores aspect ratio",
    "body": "edit --aspect-ratio 16:9 returned a square image; agents have to crop by hand.",
    "severity": "high",
    "confidence": "high",
    "next_state": "investigate",
    "command": "image-skill edit --input image_x --aspect-ratio 16:9 --json",
    "expected": "A 16:9 output asset",
    "actual": "A 1:1 output asset",
    "friction": "Had to crop locally",
    "proof_needed": "An e2e test that checks the output dimensions",
    "strategic_reason": "Wrong shapes break layout pipelines",
    "dedupe_key": "edit-aspect-ratio-ignored",
    "source": "pytest-agent",
    "trace_id": "trace_0123456789abcdef",
    "surface": ["cli", "api"],
    "evidence": ["trace:trace_0123456789abcdef", "job:job_123"],
}


@dataclass
class Shared:
    """One started app per database kind for the module; each test signs up its own agent
    (its own organization), so tests only ever look at their own rows."""

    client: TestClient
    db: Engine


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Shared]:
    home = tmp_path_factory.mktemp(f"feedback-{request.param}")
    with blank_database(request.param, home) as database_url:
        engine = create_engine(to_sync_url(to_async_url(database_url)))
        try:
            with TestClient(create_app(service_settings(database_url, home / "service"))) as client:
                yield Shared(client, engine)
        finally:
            engine.dispose()


@pytest.fixture
def engine(shared: Shared) -> Engine:
    return shared.db


@pytest.fixture
def agent(shared: Shared) -> Agent:
    return new_agent(shared.client)


def new_agent(client: TestClient) -> Agent:
    name = f"fb-{uuid.uuid4().hex[:10]}"
    return sign_up(client, f"{name}@example.com", name)


def post(agent: Agent, body: dict[str, Any]) -> Any:
    return agent.client.post("/v1/feedback", json=body, headers=agent.headers)


def rows(db: Engine, agent: Agent) -> list[Feedback]:
    with SyncSession(db) as session:
        query = (
            select(Feedback)
            .where(Feedback.organization_id == agent.organization_id)
            .order_by(Feedback.created_at, Feedback.id)
        )
        return list(session.execute(query).scalars())


def feedback_events(db: Engine, agent: Agent) -> list[ActivityEvent]:
    with SyncSession(db) as session:
        query = select(ActivityEvent).where(
            ActivityEvent.type == "feedback.created",
            ActivityEvent.organization_id == agent.organization_id,
        )
        return list(session.execute(query).scalars())


def counts(db: Engine, agent: Agent) -> tuple[int, int]:
    """(feedback rows, activity events) of the agent's organization."""

    def count(table: str) -> int:
        query = text(f"SELECT COUNT(*) FROM {table} WHERE organization_id = :org")
        with db.connect() as conn:
            return int(conn.execute(query, {"org": agent.organization_id}).scalar_one())

    return count("feedback"), count("activity_events")


# -- storing ---------------------------------------------------------------------------


def test_title_only_feedback_is_stored_with_three_weak_signal_warnings(
    agent: Agent, engine: Engine
) -> None:
    response = post(agent, {"title": "Signup flow was confusing"})
    data = ok(response, 201)
    envelope = response.json()
    assert envelope["command"] == "image-skill feedback create"
    assert envelope["actor"]["actor_id"] == agent.actor_id
    assert SIG_RE.match(data["feedback_id"]), data
    assert data["stored"] is True and data["deduplicated"] is False
    assert data["occurrences"] == 1 and data["next_state"] == "new"
    assert ISO_RE.match(data["created_at"])
    assert data["quality"] == {
        "level": "weak",
        "missing": ["command", "evidence", "expected_actual"],
        "warnings": WEAK,
        "weak_signal_allowed": False,
    }
    assert envelope["warnings"] == WEAK

    [row] = rows(engine, agent)
    assert row.id == data["feedback_id"]
    assert (row.organization_id, row.actor_id) == (agent.organization_id, agent.actor_id)
    assert (row.type, row.title, row.body) == ("user_feedback", "Signup flow was confusing", None)
    assert (row.severity, row.confidence, row.next_state) == ("medium", "medium", "new")
    assert (row.surface, row.evidence, row.occurrences) == ([], [], 1)
    assert row.quality_warnings == WEAK

    [event] = feedback_events(engine, agent)
    assert (event.subject_type, event.subject_id) == ("feedback", row.id)
    assert event.links == {"feedback_id": row.id}
    assert (event.organization_id, event.actor_id) == (agent.organization_id, agent.actor_id)
    assert event.operation == "feedback" and event.trace_id == envelope["trace_id"]
    assert "Signup" not in event.summary  # summaries are fixed phrases, never user text


def test_full_structured_feedback_is_stored_as_given_with_no_warnings(
    agent: Agent, engine: Engine
) -> None:
    response = post(agent, FULL)
    data = ok(response, 201)
    assert response.json()["warnings"] == []
    assert data["quality"]["level"] == "strong"
    assert data["quality"]["missing"] == [] and data["quality"]["warnings"] == []
    assert (data["type"], data["severity"], data["confidence"]) == ("bug_report", "high", "high")
    assert (data["next_state"], data["dedupe_key"]) == ("investigate", FULL["dedupe_key"])

    [row] = rows(engine, agent)
    for field, value in FULL.items():
        assert getattr(row, field) == value, field
    assert row.quality_warnings == [] and row.occurrences == 1
    assert len(feedback_events(engine, agent)) == 1


def test_allow_weak_signal_stores_without_the_warnings(agent: Agent, engine: Engine) -> None:
    response = post(agent, {"body": "Just a thought.", "allow_weak_signal": True})
    data = ok(response, 201)
    assert response.json()["warnings"] == []
    assert data["quality"] == {
        "level": "weak",
        "missing": ["command", "evidence", "expected_actual"],
        "warnings": [],
        "weak_signal_allowed": True,
    }
    [row] = rows(engine, agent)
    assert row.body == "Just a thought." and row.quality_warnings == []


def test_each_missing_signal_has_its_own_warning(agent: Agent) -> None:
    base = {"title": "t", "command": "c", "evidence": ["trace:x"], "expected": "e", "actual": "a"}
    assert ok(post(agent, base))["quality"]["warnings"] == []
    for field, gap in [
        ("command", "command"),
        ("evidence", "evidence"),
        ("expected", "expected_actual"),
        ("actual", "expected_actual"),
    ]:
        data = ok(post(agent, {k: v for k, v in base.items() if k != field}))
        assert data["quality"]["missing"] == [gap], field
        assert data["quality"]["warnings"] == [WARNINGS[gap]], field
        assert data["quality"]["level"] == "partial"


def test_nulls_and_a_comma_separated_surface_are_accepted(agent: Agent, engine: Engine) -> None:
    body: dict[str, Any] = {name: None for name in FULL}
    body.update(title="  Padded  ", surface="cli, docs,,cli", severity="HIGH", body="  ")
    body["allow_weak_signal"] = None
    data = ok(post(agent, body))
    assert data["severity"] == "high" and data["type"] == "user_feedback"
    [row] = rows(engine, agent)
    assert (row.title, row.body, row.surface, row.evidence) == ("Padded", None, ["cli", "docs"], [])


def test_unknown_next_state_is_stored_with_a_warning(agent: Agent, engine: Engine) -> None:
    response = post(agent, {"title": "t", "next_state": "Escalate", "allow_weak_signal": True})
    assert ok(response)["next_state"] == "escalate"
    assert [w for w in response.json()["warnings"] if "next_state" in w]
    assert rows(engine, agent)[0].next_state == "escalate"


# -- dedupe ----------------------------------------------------------------------------


def test_a_repeated_dedupe_key_merges_into_one_report(agent: Agent, engine: Engine) -> None:
    first = ok(post(agent, {"title": "Slow jobs", "dedupe_key": "slow", "surface": ["cli"]}))
    again = post(
        agent,
        {
            "title": "Slow jobs (again)",
            "dedupe_key": "slow",
            "surface": ["cli", "api"],
            "evidence": ["job:job_2"],
            "command": "image-skill jobs wait job_2",
        },
    )
    merged = ok(again, 200)
    assert merged["feedback_id"] == first["feedback_id"]
    assert (merged["deduplicated"], merged["occurrences"]) == (True, 2)
    assert merged["created_at"] == first["created_at"]
    assert merged["updated_at"] >= first["updated_at"]
    assert merged["quality"]["missing"] == ["expected_actual"]
    assert any("Merged" in w for w in again.json()["warnings"])

    [row] = rows(engine, agent)
    assert (row.id, row.occurrences, row.title) == (first["feedback_id"], 2, "Slow jobs")
    assert (row.surface, row.evidence) == (["cli", "api"], ["job:job_2"])
    assert row.command == "image-skill jobs wait job_2"  # a gap of the first report filled in
    assert row.updated_at > row.created_at
    assert len(feedback_events(engine, agent)) == 1  # the repeat writes no second event

    third = ok(post(agent, {"body": "third", "dedupe_key": "slow", "surface": "docs"}), 200)
    assert third["occurrences"] == 3 and rows(engine, agent)[0].surface == ["cli", "api", "docs"]

    other = new_agent(agent.client)  # another organization, same key
    theirs = ok(post(other, {"title": "Slow jobs", "dedupe_key": "slow"}), 201)
    assert theirs["feedback_id"] != first["feedback_id"] and theirs["occurrences"] == 1
    assert len(rows(engine, other)) == 1 and len(feedback_events(engine, other)) == 1
    assert rows(engine, agent)[0].occurrences == 3


def test_losing_a_race_on_the_dedupe_key_merges_instead_of_failing(
    agent: Agent, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = ok(post(agent, {"title": "Race", "dedupe_key": "race"}))
    real_find = store.find_by_key
    calls: list[str] = []

    async def blind_once(session: AsyncSession, organization_id: str, key: str) -> Any:
        # The first lookup misses, as when a concurrent request inserted the row after
        # this one looked: the insert then meets the unique constraint.
        calls.append(key)
        return None if len(calls) == 1 else await real_find(session, organization_id, key)

    monkeypatch.setattr(store, "find_by_key", blind_once)
    merged = ok(post(agent, {"title": "Race", "dedupe_key": "race", "surface": ["api"]}), 200)
    assert len(calls) == 2  # missed, hit the constraint, looked again
    assert (merged["feedback_id"], merged["occurrences"]) == (first["feedback_id"], 2)
    assert merged["deduplicated"] is True
    assert len(rows(engine, agent)) == 1 and len(feedback_events(engine, agent)) == 1
    assert rows(engine, agent)[0].surface == ["api"]


# -- secrets ---------------------------------------------------------------------------


def _secrets() -> dict[str, str]:
    """One value of every credential shape the service must refuse (built at run time)."""
    alnum = "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    return {
        "image_skill_token": generate_token(),
        "stripe_live": "sk_" + "live_" + alnum[:24],
        "stripe_test": "sk_" + "test_" + alnum[:24],
        "stripe_restricted": "rk_" + "live_" + alnum[:24],
        "stripe_webhook": "whsec_" + alnum[:32],
        "aws": "AKIA" + "IOSFODNN7EXAMPLE",
        "github_classic": "ghp_" + alnum[:36],
        "github_fine_grained": "github_pat_" + "11ABCDEFG0" + "_" + alnum[:30],
        "openai": "sk-" + "proj-" + alnum + alnum,
        "pem": "-----BEGIN " + "RSA PRIVATE KEY-----\nMIIEow...\n-----END RSA PRIVATE KEY-----",
        "bearer": "Authorization: Bearer " + alnum + "xyz",
        "jwt": "eyJhbGciOiJIUzI1NiJ9." + "eyJzdWIiOiIxMjM0NTY3ODkwIn0." + alnum,
        "slack": "xoxb-" + "1234567890-" + alnum[:20],
        "assigned": "OPENAI_KEY api_key=" + alnum[:20],
    }


TEXT_FIELDS = [
    "type",
    "title",
    "body",
    "command",
    "expected",
    "actual",
    "friction",
    "proof_needed",
    "strategic_reason",
    "dedupe_key",
    "source",
    "trace_id",
    "next_state",
    "severity",
    "confidence",
]


def _refused(response: Any, field: str, secret: str, caplog: pytest.LogCaptureFixture) -> None:
    data = ok(response, 200)
    assert data == {
        "stored": False,
        "feedback_id": None,
        "reason": "possible_secret",
        "field": field,
    }
    warnings = response.json()["warnings"]
    assert len(warnings) == 1 and f"'{field}'" in warnings[0] and "again" in warnings[0]
    assert secret not in response.text
    assert secret not in caplog.text


def test_every_secret_shape_is_refused_and_nothing_is_stored(
    agent: Agent, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    before = counts(engine, agent)
    for kind, secret in _secrets().items():
        body = {"title": "Key trouble", "body": f"While debugging I used {secret} to call it."}
        response = post(agent, body)
        assert response.json()["data"]["stored"] is False, kind
        _refused(response, "body", secret, caplog)
    assert counts(engine, agent) == before


def test_a_secret_in_any_field_is_refused_and_named(
    agent: Agent, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    before = counts(engine, agent)
    secret = "sk_" + "live_" + "Zz9Yy8Xx"  # 16 characters: within every field's bound
    for field in TEXT_FIELDS:
        response = post(agent, {"title": "Clean title", "body": "Clean body", field: secret})
        assert response.json()["data"]["field"] == field, response.text
        _refused(response, field, secret, caplog)
    for field in ("surface", "evidence"):
        response = post(agent, {"title": "Clean", field: ["fine", secret]})
        _refused(response, field, secret, caplog)
    response = post(agent, {"title": "Clean", "surface": f"cli,{secret}"})
    _refused(response, "surface", secret, caplog)
    assert counts(engine, agent) == before


def test_prose_about_credentials_is_not_mistaken_for_one(agent: Agent, engine: Engine) -> None:
    harmless = [
        "The sk_live key was rejected; the sk_test_ prefix works.",
        "Send it as Authorization: Bearer <token> or Bearer $IMAGE_SKILL_TOKEN.",
        "whoami shows isk_r_abcd… (redacted), which is fine.",
        "Set api_key=YOUR_API_KEY_HERE in the config.",
        "The task-management-dashboard-feature-request page.",
        "The risk_test_scenarios2024 suite and the desk-booking-v2-rollout-plan-2024 doc.",
        "AKIA prefixes mean AWS; ghp_ means GitHub.",
        "-----BEGIN CERTIFICATE----- is public, not a key.",
    ]
    for prose in harmless:
        data = ok(post(agent, {"title": "About keys", "body": prose, "allow_weak_signal": True}))
        assert data["stored"] is True, prose
    assert [row.body for row in rows(engine, agent)] == harmless


# -- refusals --------------------------------------------------------------------------


INVALID: list[tuple[dict[str, Any], str]] = [
    ({}, "title"),
    ({"title": "   ", "body": ""}, "title"),
    ({"title": None, "body": None, "command": "x"}, "title"),
    ({"title": "t", "severity": "urgent"}, "severity"),
    ({"title": "t", "confidence": "certain"}, "confidence"),
    ({"title": "x" * 301}, "title"),
    ({"body": "x" * 8001}, "body"),
    ({"title": "t", "surface": ["s"] * 21}, "surface"),
    ({"title": "t", "evidence": ["e"] * 51}, "evidence"),
    ({"title": "t", "evidence": "trace:x"}, "evidence"),
]


def test_invalid_feedback_is_refused_and_not_stored(agent: Agent, engine: Engine) -> None:
    for body, field in INVALID:
        error = check_error(post(agent, body), "INVALID_ARGUMENTS", 2)
        assert error["details"]["field"] == field, body
    assert counts(engine, agent)[0] == 0


def test_feedback_needs_a_token(shared: Shared) -> None:
    def total() -> int:
        with shared.db.connect() as conn:
            return int(conn.execute(text("SELECT COUNT(*) FROM feedback")).scalar_one())

    before = total()
    api = shared.client
    check_error(api.post("/v1/feedback", json={"title": "t"}), "AUTH_REQUIRED", 3)
    headers = {"Authorization": f"Bearer {generate_token()}"}
    check_error(api.post("/v1/feedback", json={"title": "t"}, headers=headers), "AUTH_INVALID", 3)
    assert total() == before


# -- fail closed -----------------------------------------------------------------------


def _assert_unavailable(response: Any, caplog: pytest.LogCaptureFixture, title: str) -> None:
    error = check_error(response, "FEEDBACK_STORAGE_UNAVAILABLE", 1)
    assert error["retryable"] is True
    assert response.status_code == 500
    # The failure is logged by kind, never with the values. (DEBUG is left out: the
    # SQLite driver's own debug log repeats statement parameters.)
    assert title not in caplog.text


def test_a_missing_feedback_table_fails_closed(
    api: TestClient, db: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    # Its own app and database (the conftest fixtures), since the table is dropped.
    agent = new_agent(api)
    with db.begin() as conn:
        conn.execute(text("DROP TABLE feedback"))
    caplog.set_level(logging.INFO)
    title = "Unstorable-title-7f3a"
    _assert_unavailable(post(agent, {"title": title}), caplog, title)
    _assert_unavailable(post(agent, {"title": title, "dedupe_key": "k"}), caplog, title)
    assert feedback_events(db, agent) == []
    assert any("feedback storage failed" in r.getMessage() for r in caplog.records)


FailurePoint = Callable[[pytest.MonkeyPatch], None]


def _fail_event_write(monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken_record(*_args: Any, **_kwargs: Any) -> None:
        raise OperationalError("INSERT INTO activity_events", {}, Exception("disk I/O error"))

    monkeypatch.setattr(store, "record", broken_record)


def _fail_commit(monkeypatch: pytest.MonkeyPatch) -> None:
    real_scope = store.session_scope

    @asynccontextmanager
    async def commit_fails(engine: AsyncEngine, *, write: bool) -> AsyncIterator[AsyncSession]:
        async with real_scope(engine, write=write) as session:
            yield session
            await session.flush()
            raise OperationalError("COMMIT", {}, Exception("database is locked"))

    monkeypatch.setattr(store, "session_scope", commit_fails)


@pytest.mark.parametrize("break_it", [_fail_event_write, _fail_commit], ids=["event", "commit"])
def test_a_failed_write_fails_closed_and_keeps_nothing(
    agent: Agent,
    engine: Engine,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    break_it: FailurePoint,
) -> None:
    kept = ok(post(agent, {"title": "Before", "dedupe_key": "k"}))
    before = counts(engine, agent)
    break_it(monkeypatch)
    caplog.set_level(logging.INFO)
    title = "Lost-title-91c2"
    _assert_unavailable(post(agent, {"title": title}), caplog, title)
    if break_it is _fail_commit:
        # A merge that cannot be committed is not half-applied either.
        _assert_unavailable(post(agent, {"title": title, "dedupe_key": "k"}), caplog, title)
    assert counts(engine, agent) == before
    [row] = rows(engine, agent)
    assert (row.id, row.occurrences, row.title) == (kept["feedback_id"], 1, "Before")


# -- the ledger ------------------------------------------------------------------------


def test_activity_show_finds_the_feedback(agent: Agent) -> None:
    paths = {route.path for route in route_table(agent.client.app)}  # type: ignore[arg-type]
    assert "/v1/activity/{reference}" in paths
    feedback_id = ok(post(agent, {"title": "Ledger check"}))["feedback_id"]
    response = agent.get(f"/v1/activity/{feedback_id}")
    assert response.status_code == 200, response.text
    found = {
        event["event_id"]: event
        for event in _dicts(response.json()["data"])
        if event.get("type") == "feedback.created"
    }
    assert len(found) == 1, response.text
    [event] = found.values()
    assert event["links"]["feedback_id"] == feedback_id
    assert event["subject"] == {"type": "feedback", "id": feedback_id}
    assert "Ledger check" not in response.text


def _dicts(value: Any) -> list[dict[str, Any]]:
    """Every dict nested in ``value`` (the response shape of activity show is not ours)."""
    if isinstance(value, dict):
        return [value, *[d for item in value.values() for d in _dicts(item)]]
    if isinstance(value, list):
        return [d for item in value for d in _dicts(item)]
    return []
