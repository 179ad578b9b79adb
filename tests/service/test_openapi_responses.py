"""``/openapi.json`` documents every success envelope, and what it documents is true.

The first test reads the spec: every JSON operation names the schema of its
success envelope (``ok`` true, a typed ``data``) for each success status it
answers. The flows then drive the real app as an agent does (signup to claim,
create, edit, upload, jobs, activity, feedback, both payment rails, the CLI
bridge) with a response hook that validates every answer, errors included,
against the schema the spec documents for its status, with objects closed so
an undocumented field fails too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session as SyncSession

from image_skill.contract.ids import new_id, utc_now
from image_skill.server import create_server_app
from image_skill.service.db.webhook_models import WebhookDelivery
from image_skill.service.settings import Settings
from tests.fakes.stripe_api import FakeStripe
from tests.support.agents import Agent, sign_up
from tests.support.apps import PEPPER, service_settings
from tests.support.envelopes import ok
from tests.support.images import png
from tests.support.openapi_conformance import SpecConformance
from tests.support.stripe_shop import SECRET_KEY, WEBHOOK_SECRET, Shop
from tests.support.webhooks import hooked_app

# Answers that are not JSON envelopes: the claim pages (HTML) and Prometheus metrics.
NOT_JSON = {
    ("get", "/claim/{token}"),
    ("post", "/claim/{token}"),
    ("get", "/metrics"),
    # The home page and the guide texts (service/guide).
    ("get", "/"),
    ("get", "/skill.md"),
    ("get", "/cli.md"),
    ("get", "/llms.txt"),
}
# The bridge answers whatever command it ran, so its ``data`` is any JSON value.
ANY_DATA = {("post", "/v1/cli")}


def _spec(tmp_path: Path) -> dict[str, Any]:
    settings = service_settings(f"sqlite+aiosqlite:///{tmp_path / 'spec.db'}", tmp_path)
    spec: dict[str, Any] = create_server_app(settings).openapi()
    return spec


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        schema = spec["components"]["schemas"][name]
    return schema


def test_every_json_operation_documents_its_success_envelope(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    operations = 0
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            operations += 1
            label = f"{method.upper()} {path}"
            successes = {
                status: response
                for status, response in operation["responses"].items()
                if status.isdigit() and status.startswith("2")
            }
            assert successes, f"{label} documents no success status"
            for status, response in successes.items():
                content = response.get("content", {})
                if (method, path) in NOT_JSON:
                    assert "application/json" not in content, label
                    assert content, f"{label} {status} documents no content type"
                    continue
                schema = content.get("application/json", {}).get("schema")
                assert schema, f"{label} {status} documents no JSON schema"
                envelope = _resolve(spec, schema)
                assert envelope["properties"]["ok"].get("const") is True, label
                assert {"ok", "data", "error", "trace_id", "warnings"} <= set(
                    envelope["required"]
                ), label
                data = envelope["properties"]["data"]
                assert data or (method, path) in ANY_DATA, f"{label} {status}: untyped data"
    assert operations > 25


def test_the_checker_refuses_an_answer_that_breaks_its_schema(tmp_path: Path) -> None:
    """The conformance hook really judges: a wrong type, a missing or an extra field fails."""
    checker = SpecConformance(_spec(tmp_path))
    schema = {"$ref": "#/components/schemas/Envelope_HealthData_"}
    data = {
        "status": "ok",
        "api_version": "v1",
        "service": "image-skill",
        "version": "0.0.0",
        "mode": "server",
        "telemetry": "off",
        "database": "ok",
        "time": "2026-01-01T00:00:00.000Z",
    }
    envelope = {
        "ok": True,
        "command": "image-skill doctor",
        "trace_id": "trace_0123456789abcdef",
        "actor": None,
        "data": data,
        "warnings": [],
        "error": None,
    }
    checker.validate(schema, envelope, "healthz")
    for broken in (
        {**envelope, "ok": False},
        {**envelope, "data": {**data, "mode": 3}},
        {**envelope, "data": {k: v for k, v in data.items() if k != "database"}},
        {**envelope, "data": {**data, "undocumented": 1}},
    ):
        with pytest.raises(AssertionError, match="does not match"):
            checker.validate(schema, broken, "healthz")


@pytest.fixture
def checked(api: TestClient) -> SpecConformance:
    """A conformance hook on the app's client, built from the spec the app serves."""
    checker = SpecConformance(api.get("/openapi.json").json())
    api.event_hooks = {"request": [], "response": [checker.check]}
    return checker


def _feedback(agent: Agent, **body: Any) -> dict[str, Any]:
    response = agent.client.post("/v1/feedback", json=body, headers=agent.headers)
    assert response.status_code in (200, 201), response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def test_an_agents_day_answers_exactly_as_documented(
    api: TestClient, checked: SpecConformance
) -> None:
    ok(api.get("/healthz"), 200)
    agent = sign_up(api)
    # The same agent name with its current token rotates the token (200).
    rotated = api.post(
        "/v1/agent-signups",
        json={"human_email": "human@example.com", "agent_name": "bot", "return_token": True},
        headers=agent.headers,
    )
    agent.token = ok(rotated, 200)["token"]
    ok(agent.get("/v1/whoami"), 200)
    ok(agent.get("/v1/quota"), 200)
    ok(api.get("/v1/models"), 200)
    ok(api.get("/v1/models/local.sketch"), 200)
    capabilities = ok(api.get("/v1/capabilities"), 200)["capabilities"]
    ok(api.get(f"/v1/capabilities/{capabilities[0]['capability_id']}"), 200)

    plan = ok(agent.create(dry_run=True, model="local.sketch"), 200)
    assert plan["dry_run"] is True
    created = ok(agent.create(key="day-1", model="local.sketch"), 201)
    replayed = agent.create(key="day-1", model="local.sketch")
    assert ok(replayed, 201)["job_id"] == created["job_id"]
    uploaded = ok(agent.upload(png(24, 24)), 201)["asset"]
    edited = ok(
        agent.edit(
            prompt="grayscale", model="local.transform", input_asset_id=uploaded["asset_id"]
        ),
        201,
    )
    ok(agent.get(f"/v1/assets/{edited['assets'][0]['asset_id']}"), 200)
    ok(agent.get("/v1/assets", params={"limit": 2, "kind": "edited"}), 200)
    ok(agent.get(f"/v1/jobs/{created['job_id']}"), 200)
    ok(agent.get("/v1/jobs", params={"limit": 2}), 200)
    events = ok(agent.get("/v1/activity"), 200)["events"]
    ok(agent.get(f"/v1/activity/{events[0]['event_id']}"), 200)
    ok(agent.get(f"/v1/activity/{created['job_id']}"), 200)

    first = {"title": "Edit ignores aspect ratio", "body": "Square output.", "dedupe_key": "k1"}
    assert _feedback(agent, **first)["stored"] is True
    assert _feedback(agent, **first)["deduplicated"] is True
    secret = "sk_live_" + "a1B2c3D4" * 4
    assert _feedback(agent, title="Key", body=f"I used {secret} here")["stored"] is False

    claim = ok(agent.post("/v1/claims", {}), 201)["claim"]
    ok(agent.get("/v1/claims"), 200)
    ok(agent.get(f"/v1/claims/{claim['claim_id']}"), 200)
    assert ok(agent.get("/v1/whoami"), 200)["claim"]["pending_claim_id"] == claim["claim_id"]

    cli = api.post("/v1/cli", json={"argv": ["whoami"]}, headers=agent.headers)
    assert ok(cli, 200)["actor"]["actor_id"] == agent.actor_id

    # Errors are documented too: no token, a stranger's job, a bad body.
    assert api.get("/v1/whoami").status_code == 401
    assert sign_up(api, "other@example.com").get(f"/v1/jobs/{created['job_id']}").status_code == 404
    assert agent.post("/v1/create", {"prompt": ""}).status_code == 400

    seen = {(method, path) for method, path, _status in checked.seen}
    expected = {
        ("get", "/healthz"),
        ("post", "/v1/agent-signups"),
        ("get", "/v1/whoami"),
        ("get", "/v1/quota"),
        ("get", "/v1/models"),
        ("get", "/v1/models/{model_id}"),
        ("get", "/v1/capabilities"),
        ("get", "/v1/capabilities/{capability_id}"),
        ("post", "/v1/create"),
        ("post", "/v1/edit"),
        ("post", "/v1/upload"),
        ("get", "/v1/assets"),
        ("get", "/v1/assets/{asset_id}"),
        ("get", "/v1/jobs/{job_id}"),
        ("get", "/v1/jobs"),
        ("get", "/v1/activity"),
        ("get", "/v1/activity/{reference}"),
        ("post", "/v1/feedback"),
        ("post", "/v1/claims"),
        ("get", "/v1/claims"),
        ("get", "/v1/claims/{claim_id}"),
        ("post", "/v1/cli"),
    }
    assert expected <= seen, expected - seen
    statuses = {(method, path, status) for method, path, status in checked.seen}
    for answered in (
        ("post", "/v1/agent-signups", 200),
        ("post", "/v1/agent-signups", 201),
        ("post", "/v1/create", 200),
        ("post", "/v1/feedback", 200),
        ("post", "/v1/feedback", 201),
        ("get", "/v1/whoami", 401),
        ("get", "/v1/jobs/{job_id}", 404),
        ("post", "/v1/create", 400),
    ):
        assert answered in statuses, answered


@pytest.fixture
def stripe_app(
    database_url: str, tmp_path: Path, fake_stripe: FakeStripe, db: Engine
) -> Iterator[tuple[Shop, SpecConformance]]:
    """An app with both payment rails (Stripe on the fake, fake settlement switched on)."""
    settings = Settings(
        database_url=database_url,
        home=tmp_path / "service-home",
        embedded=False,
        environment="test",
        token_pepper=PEPPER,
        stripe_secret_key=SECRET_KEY,
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_api_base=fake_stripe.url,
        fake_payments_enabled=True,
    )
    with TestClient(create_server_app(settings)) as client:
        checker = SpecConformance(client.get("/openapi.json").json())
        client.event_hooks = {"request": [], "response": [checker.check]}
        yield Shop(client, fake_stripe, db), checker


@pytest.mark.usefixtures("no_ambient_payment_settings")
def test_buying_credits_answers_exactly_as_documented(
    stripe_app: tuple[Shop, SpecConformance],
) -> None:
    shop, checked = stripe_app
    agent = shop.signup()
    ok(shop.http.get("/v1/credit-packs"), 200)

    quote = shop.quote(agent, "fake-1", method="fake", credits=300)
    purchase = {"quote_id": quote["quote_id"], "idempotency_key": "fake-buy-1"}
    ok(shop.http.post("/v1/credit-purchases", json=purchase, headers=agent.headers), 201)
    assert shop.status(agent, quote_id=quote["quote_id"])["state"] == "succeeded"

    bought = shop.bought(agent, "stripe-1")
    waiting = shop.status(agent, payment_attempt_id=bought["payment_attempt_id"])
    assert waiting["state"] == "action_required"
    event = shop.event("checkout.session.completed", bought["checkout_session_id"], "paid")
    assert shop.deliver(event)["outcome"] == "granted"
    assert shop.deliver(event)["duplicate"] is True
    paid = shop.status(agent, checkout_session_id=bought["checkout_session_id"])
    assert paid["receipt"] is not None and paid["provider_event"] is not None

    seen = {(method, path) for method, path, _status in checked.seen}
    assert {
        ("get", "/v1/credit-packs"),
        ("post", "/v1/credit-quotes"),
        ("post", "/v1/credit-purchases"),
        ("post", "/v1/credit-purchases/stripe-checkout-sessions"),
        ("get", "/v1/credit-purchases/status"),
        ("post", "/v1/webhooks/stripe"),
    } <= seen


def _delivered(db: Engine, agent: Agent, job_id: str, url: str) -> None:
    """A delivered attempt in the log, as ``webhooks.delivery`` records one."""
    now = utc_now()
    row = WebhookDelivery(
        id=new_id("msg"),
        organization_id=agent.organization_id,
        job_id=job_id,
        url=url,
        event_type="job.completed",
        payload={},
        status="delivered",
        attempts=1,
        next_attempt_at=None,
        last_status_code=200,
        last_error=None,
        created_at=now,
        delivered_at=now,
        updated_at=now,
    )
    with SyncSession(db) as session, session.begin():
        session.add(row)


def test_webhooks_and_cancel_answer_exactly_as_documented(
    database_url: str, tmp_path: Path, db: Engine
) -> None:
    """Deliveries are written by the job executor; one is recorded here directly so the log's
    item shape is checked whatever state that work is in."""
    with hooked_app(database_url, tmp_path / "home") as app:
        checker = SpecConformance(app.client.get("/openapi.json").json())
        app.client.event_hooks = {"request": [], "response": [checker.check]}
        agent = app.claimed_agent()
        ok(agent.get("/v1/webhooks"), 200)
        target = {"default_url": "http://127.0.0.1:9/hooks/image-skill"}
        assert ok(agent.client.put("/v1/webhooks", json=target, headers=agent.headers), 200)[
            "signing_secret"
        ]
        ok(agent.post("/v1/webhooks/secret", {}), 201)
        job = ok(agent.create(model="local.sketch"), 201)
        _delivered(db, agent, job["job_id"], target["default_url"])
        assert ok(agent.get("/v1/webhooks/deliveries"), 200)["deliveries"]
        cancel = ok(agent.post(f"/v1/jobs/{job['job_id']}/cancel", {}), 200)
        assert cancel["cancel"] == "already_terminal"
        seen = {(method, path) for method, path, _status in checker.seen}
        assert {
            ("get", "/v1/webhooks"),
            ("put", "/v1/webhooks"),
            ("post", "/v1/webhooks/secret"),
            ("get", "/v1/webhooks/deliveries"),
            ("post", "/v1/jobs/{job_id}/cancel"),
        } <= seen
