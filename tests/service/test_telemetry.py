"""Telemetry: Prometheus metrics, one JSON event per call, OTLP traces, the off mode.

Metrics are scraped from ``GET /metrics`` and parsed with prometheus_client's
own parser; event lines are read from the ``image_skill.telemetry`` logger;
spans are received by a fake OTLP/HTTP collector and decoded with the
official protobuf classes.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from image_skill.contract.envelope import TRACE_HEADER
from image_skill.service.settings import Settings
from image_skill.service.telemetry import LOGGER_NAME, Telemetry, annotate, credits_on_commit
from image_skill.service.telemetry.middleware import TelemetryMiddleware
from image_skill.service.telemetry.record import (
    SCOPE_KEY,
    RequestRecord,
    cli_command,
    cli_version,
    current,
)
from image_skill.service.telemetry.tracing import EnvelopeIdGenerator, otel_trace_id, traces_url
from tests.fakes.otlp_collector import fake_collector
from tests.support.agents import Agent, sign_up
from tests.support.apps import started_app
from tests.support.envelopes import check_error, ok
from tests.support.images import png

PROMPT = "zebra-umbrella-4417 lighthouse"
EVENT_KEYS = {
    "event", "ts", "trace_id", "endpoint", "method", "api_version", "service_version",
    "cli_version", "cli_command", "actor_type", "actor_id", "claim_state", "capability_id",
    "status", "http_status", "error_code", "retryable", "duration_ms", "credits", "outputs",
    "retry", "dry_run", "job_id",
}  # fmt: skip
CLI_HEADERS = {"x-image-skill-cli-version": "0.2.0", "x-image-skill-command": "image-skill create"}


# --- helpers -----------------------------------------------------------------------------


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``/metrics``: (name, sorted labels) -> value."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def events(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The event lines logged so far, parsed."""
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == LOGGER_NAME]


@contextmanager
def telemetry_app(database_url: str, home: Path, **overrides: Any) -> Iterator[TestClient]:
    with started_app(database_url, home, telemetry="on", **overrides) as client:
        yield client


# --- metrics -----------------------------------------------------------------------------


@pytest.mark.usefixtures("counting_plugin")
def test_metrics_move_after_create_and_failed_job(database_url: str, tmp_path: Path) -> None:
    # The tests' default is IMAGE_SKILL_TELEMETRY=off: /metrics must count anyway.
    home = tmp_path / "home"
    with started_app(database_url, home, free_preview_credits=50) as client:
        assert client.app.state.telemetry.events_enabled is False  # type: ignore[attr-defined]
        agent = sign_up(client)
        before = scrape(client)
        created = ok(agent.create(model="test.counting"))
        failing = {"model": "test.failing", "model_parameters": {"mode": "provider_failed"}}
        plan = ok(agent.create(dry_run=True, **failing), 200)
        failed = agent.create(**failing)
        check_error(failed, "PROVIDER_FAILED", 7)
        ok(agent.get(f"/v1/jobs/{created['job_id']}"), 200)
        after = scrape(client)

    credits = created["quota"]["credits_debited"]
    assert credits == created["cost"]["credit_pricing"]["credits_required"] > 0
    create = {"route": "/v1/create", "method": "POST"}

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("image_skill_http_requests_total", status="201", **create) == 1
    assert moved("image_skill_http_requests_total", status="502", **create) == 1
    assert moved("image_skill_http_request_duration_seconds_count", status="201", **create) == 1
    # Route templates, never raw paths with ids.
    jobs_route = {"route": "/v1/jobs/{job_id}", "method": "GET", "status": "200"}
    assert moved("image_skill_http_requests_total", **jobs_route) == 1
    assert not [key for key in after if created["job_id"] in str(key)]
    assert moved("image_skill_http_errors_total", route="/v1/create", code="PROVIDER_FAILED") == 1
    assert moved("image_skill_jobs_total", operation="create", status="completed") == 1
    assert moved("image_skill_jobs_total", operation="create", status="failed") == 1
    assert moved("image_skill_credits_total", movement="debited") == credits
    # Both jobs reserved; the failed one's reservation came back; the dry run moved nothing.
    failed_credits = plan["cost"]["credit_pricing"]["credits_required"]
    assert moved("image_skill_credits_total", movement="released") == failed_credits > 0
    assert moved("image_skill_credits_total", movement="reserved") == credits + failed_credits
    latency = "image_skill_provider_latency_seconds_count"
    assert moved(latency, model="test.counting", outcome="ok") == 1
    assert moved(latency, model="test.failing", outcome="error") == 1
    assert (
        moved("image_skill_provider_latency_seconds_sum", model="test.counting", outcome="ok") > 0
    )


def test_uploads_are_counted_by_outcome(database_url: str, tmp_path: Path) -> None:
    with started_app(database_url, tmp_path / "home") as client:
        agent = sign_up(client)
        ok(agent.upload(png()))
        check_error(agent.upload(b"not an image at all"), "UPLOAD_MIME_TYPE_UNKNOWN", 2)
        samples = scrape(client)
    assert value(samples, "image_skill_uploads_total", outcome="stored") == 1
    assert value(samples, "image_skill_uploads_total", outcome="UPLOAD_MIME_TYPE_UNKNOWN") == 1


def test_metrics_of_two_apps_do_not_mix(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'one.db'}"
    with started_app(db, tmp_path / "a") as first, started_app(db, tmp_path / "b") as second:
        first.get("/healthz")
        first.get("/healthz")
        second.get("/healthz")
        healthz = {"route": "/healthz", "method": "GET", "status": "200"}
        assert value(scrape(first), "image_skill_http_requests_total", **healthz) == 2
        assert value(scrape(second), "image_skill_http_requests_total", **healthz) == 1


def test_credits_count_only_committed_movements(tmp_path: Path) -> None:
    telemetry = Telemetry(Settings(home=tmp_path, telemetry="off"))
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    token = current.set(RequestRecord(telemetry, "trace_0123456789abcdef", "POST"))
    try:
        with Session(engine) as session:
            session.execute(text("SELECT 1"))
            credits_on_commit(session, "reserved", 7)
            session.rollback()
            session.execute(text("SELECT 1"))
            credits_on_commit(session, "reserved", 5)
            session.commit()
            session.commit()  # nothing pending any more: no double count
    finally:
        current.reset(token)
        engine.dispose()
    counted = telemetry.metrics.credits.labels("reserved")._value.get()
    assert counted == 5


# --- event lines -------------------------------------------------------------------------


@pytest.mark.usefixtures("counting_plugin")
def test_one_event_line_per_call_with_the_envelope_trace_id(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    db = f"sqlite:///{tmp_path / 'events.db'}"
    with telemetry_app(db, tmp_path / "home") as client:
        signup = client.post(
            "/v1/agent-signups",
            json={
                "human_email": "e@example.com",
                "agent_name": "ev",
                "runtime": "t",
                "return_token": True,
            },
            headers={
                "x-image-skill-cli-version": "0.2.0",
                "x-image-skill-command": "image-skill signup",
            },
        )
        token = signup.json()["data"]["token"]
        agent = Agent(client, token, "", "")
        headers = {**agent.headers, **CLI_HEADERS, "Idempotency-Key": "key-1"}
        body = {"prompt": PROMPT, "model": "test.counting"}
        responses = [
            signup,
            client.post("/v1/create", json=body, headers=headers),
            client.post("/v1/create", json=body, headers=headers),  # idempotent replay
            client.get("/v1/jobs/job_doesnotexist", headers=agent.headers),
            client.get(
                "/healthz", headers={"x-image-skill-command": "image-skill doctor; rm -rf /"}
            ),
            client.get("/v1/whoami", headers={"x-image-skill-command": "image-skill frobnicate"}),
        ]
        client.get("/metrics")  # scrapes are not API calls: no event
    lines = events(caplog)
    assert [e["trace_id"] for e in lines] == [r.json()["trace_id"] for r in responses]
    assert [e["trace_id"] for e in lines] == [r.headers[TRACE_HEADER] for r in responses]
    for line in lines:
        assert set(line) == EVENT_KEYS
        assert line["event"] == "api.request" and line["api_version"] == "v1"
    signed, created, replayed, missing, health, whoami = lines
    assert signed["cli_command"] == "image-skill signup" and signed["cli_version"] == "0.2.0"
    assert signed["actor_type"] is None and signed["http_status"] == 201

    job_id = responses[1].json()["data"]["job_id"]
    assert created["endpoint"] == "/v1/create" and created["method"] == "POST"
    assert created["cli_command"] == "image-skill create"
    assert created["capability_id"] == "is.image.generate.preview.v1"
    assert created["actor_type"] == "agent" and created["claim_state"] == "unclaimed"
    assert created["status"] == "ok" and created["http_status"] == 201
    assert created["job_id"] == job_id and created["outputs"] == 1
    assert (
        created["credits"]
        == responses[1].json()["data"]["cost"]["credit_pricing"]["credits_required"]
    )
    assert created["retry"] == {"idempotency_key_sent": True, "replayed": False}
    assert created["duration_ms"] > 0 and created["error_code"] is None
    assert replayed["retry"] == {"idempotency_key_sent": True, "replayed": True}
    assert replayed["job_id"] == job_id and replayed["outputs"] is None

    assert missing["endpoint"] == "/v1/jobs/{job_id}" and missing["status"] == "error"
    assert missing["http_status"] == 404 and missing["error_code"] == "NOT_FOUND"
    assert missing["retryable"] is False
    assert health["cli_command"] == "invalid" and whoami["cli_command"] == "other"
    assert whoami["error_code"] == "AUTH_REQUIRED" and whoami["cli_version"] is None

    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert PROMPT not in logged and "lighthouse" not in logged
    assert token not in logged and token[:16] not in logged
    assert "rm -rf" not in logged and "frobnicate" not in logged


def test_cli_bridge_event_carries_the_trace_id_its_envelope_adopted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    db = f"sqlite:///{tmp_path / 'bridge.db'}"
    with telemetry_app(db, tmp_path / "home") as client:
        response = client.post("/v1/cli", json={"argv": ["models", "list"]})
    assert response.status_code == 200
    (outer,) = [e for e in events(caplog) if e["endpoint"] == "/v1/cli"]
    assert outer["trace_id"] == response.json()["trace_id"] == response.headers[TRACE_HEADER]


def test_unhandled_error_event_matches_its_envelope(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    db = f"sqlite:///{tmp_path / 'boom.db'}"
    with telemetry_app(db, tmp_path / "home") as client:

        async def explode() -> None:
            raise RuntimeError("kaboom")

        client.app.add_api_route("/__test/explode/{thing}", explode, methods=["GET"])  # type: ignore[attr-defined]
        quiet = TestClient(client.app, raise_server_exceptions=False)
        response = quiet.get("/__test/explode/secret-thing")
    (line,) = [e for e in events(caplog) if e["endpoint"].startswith("/__test")]
    assert response.status_code == 500
    assert line["trace_id"] == response.json()["trace_id"]
    assert line["endpoint"] == "/__test/explode/{thing}"
    assert line["http_status"] == 500 and line["error_code"] == "INTERNAL_ERROR"


def test_off_mode_emits_no_events_but_metrics_count(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    db = f"sqlite:///{tmp_path / 'off.db'}"
    with started_app(db, tmp_path / "home") as client:  # the tests' env says off
        for _ in range(3):
            client.get("/healthz", headers=CLI_HEADERS)
        client.get("/v1/nothing-here")
        samples = scrape(client)
    assert [r for r in caplog.records if r.name.startswith(LOGGER_NAME)] == []
    healthz = {"route": "/healthz", "method": "GET", "status": "200"}
    assert value(samples, "image_skill_http_requests_total", **healthz) == 3
    unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
    assert value(samples, "image_skill_http_requests_total", **unmatched) == 1


def test_a_cancelled_call_is_counted_as_abandoned(tmp_path: Path) -> None:
    telemetry = Telemetry(Settings(home=tmp_path, telemetry="off"))

    async def hangs_up(scope: Any, receive: Any, send: Any) -> None:
        raise asyncio.CancelledError

    middleware = TelemetryMiddleware(hangs_up, telemetry)
    scope = {"type": "http", "method": "GET", "path": "/v1/whoami", "headers": []}

    async def call() -> None:
        with pytest.raises(asyncio.CancelledError):
            await middleware(scope, None, None)  # type: ignore[arg-type]

    asyncio.run(call())
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(telemetry.metrics.exposition().decode())
        for s in family.samples
    }
    labels = {"route": "unmatched", "method": "GET", "status": "499"}
    assert value(samples, "image_skill_http_requests_total", **labels) == 1
    assert (
        value(
            samples, "image_skill_http_errors_total", route="unmatched", code="CLIENT_DISCONNECTED"
        )
        == 1
    )
    assert scope["state"]["trace_id"].startswith("trace_")  # minted before the app ran


# --- traces ------------------------------------------------------------------------------


def test_span_reaches_the_collector_with_the_envelope_trace_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = f"sqlite:///{tmp_path / 'otel.db'}"
    with fake_collector() as collector:
        with telemetry_app(db, tmp_path / "home", otlp_endpoint=collector.url) as client:
            agent = sign_up(client)
            response = client.post(
                "/v1/create", json={"prompt": PROMPT}, headers={**agent.headers, **CLI_HEADERS}
            )
            envelope = response.json()
        # Leaving the client ran the app's shutdown, which flushes the exporter.
        trace_hex = envelope["trace_id"].removeprefix("trace_")
        spans = collector.wait_for(lambda s: s.trace_id.endswith(trace_hex), timeout=10)
        raw = b"".join(collector.requests)
    assert response.status_code == 201
    server = next(s for s in spans if s.name == "POST /v1/create")
    assert server.trace_id == "0" * 16 + trace_hex
    assert server.kind == 2  # SPAN_KIND_SERVER
    assert server.parent_span_id == ""
    attributes = server.attributes
    assert attributes["image_skill.trace_id"] == envelope["trace_id"]
    assert attributes["http.route"] == "/v1/create"
    assert attributes["http.response.status_code"] == 201
    assert attributes["image_skill.job_id"] == envelope["data"]["job_id"]
    assert attributes["image_skill.cli.command"] == "image-skill create"
    assert server.resource["service.name"] == "image-skill"
    provider = next(s for s in spans if s.name == "provider.generate")
    assert provider.parent_span_id == server.span_id
    assert provider.attributes["image_skill.model_id"] == "local.sketch"
    assert PROMPT.encode() not in raw and agent.token.encode() not in raw


def test_no_spans_without_endpoint_or_when_off(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'quiet.db'}"
    with fake_collector() as collector:
        with started_app(db, tmp_path / "a", otlp_endpoint=collector.url) as client:
            assert client.app.state.telemetry.tracing is None  # type: ignore[attr-defined]
            client.get("/healthz")
        with telemetry_app(db, tmp_path / "b") as client:
            assert client.app.state.telemetry.tracing is None  # type: ignore[attr-defined]
            client.get("/healthz")
        assert collector.wait_for(lambda s: True, timeout=0.5) == []


# --- settings and validation -------------------------------------------------------------


def test_settings_read_the_switch_and_both_endpoint_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IMAGE_SKILL_TELEMETRY", "OFF")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    settings = Settings()
    assert settings.telemetry == "off" and settings.otlp_endpoint == "http://collector:4318"
    monkeypatch.setenv("IMAGE_SKILL_OTLP_ENDPOINT", "http://ours:4318/")
    monkeypatch.setenv("IMAGE_SKILL_TELEMETRY", "on")
    settings = Settings()
    assert settings.telemetry == "on" and settings.otlp_endpoint == "http://ours:4318/"
    monkeypatch.setenv("IMAGE_SKILL_TELEMETRY", "false")
    assert Settings().telemetry == "off"
    monkeypatch.setenv("IMAGE_SKILL_TELEMETRY", "sometimes")
    with pytest.raises(ValueError):
        Settings()


def test_header_values_are_bounded() -> None:
    assert cli_version(b"0.2.0") == "0.2.0" and cli_version(None) is None
    assert cli_version(b"1.0 ; DROP TABLE") == "invalid"
    assert cli_version(b"x" * 40) == "invalid"
    assert cli_command(b"image-skill credits packs list") == "image-skill credits packs list"
    assert cli_command(b"image-skill create") == "image-skill create"
    assert cli_command(b"image-skill zebra umbrella") == "other"
    assert cli_command(b"image-skill create --prompt secret") == "invalid"
    assert cli_command(b"curl") == "invalid" and cli_command(None) is None


def test_annotate_reaches_the_record_of_a_request_or_scope(tmp_path: Path) -> None:
    telemetry = Telemetry(Settings(home=tmp_path, telemetry="off"))
    record = RequestRecord(telemetry, "trace_0123456789abcdef", "POST")
    scope = {SCOPE_KEY: record}
    annotate(scope, job_id="job_1", credits=3)
    annotate(SimpleNamespace(scope=scope), outputs=2, replayed=True)  # a Request has .scope
    annotate(job_id="job_elsewhere")  # no current call: ignored
    annotate({}, job_id="job_nowhere")  # a scope the middleware never saw: ignored
    assert (record.job_id, record.credits, record.outputs, record.replayed) == ("job_1", 3, 2, True)


def test_trace_ids_embed_the_envelope_id(tmp_path: Path) -> None:
    assert traces_url("http://c:4318") == "http://c:4318/v1/traces"
    assert traces_url("http://c:4318/v1/traces/") == "http://c:4318/v1/traces"
    assert otel_trace_id("trace_00000000000000ff") == 255
    assert otel_trace_id("trace_0000000000000000") is None
    assert otel_trace_id("trace_xyz") is None
    generator = EnvelopeIdGenerator()
    telemetry = Telemetry(Settings(home=tmp_path, telemetry="off"))
    token = current.set(RequestRecord(telemetry, "trace_0123456789abcdef", "GET"))
    try:
        assert f"{generator.generate_trace_id():032x}" == "0" * 16 + "0123456789abcdef"
    finally:
        current.reset(token)
    assert generator.generate_trace_id() != 0x0123456789ABCDEF  # random outside a request
