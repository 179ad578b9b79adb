"""The activity ledger through the API, on SQLite and PostgreSQL.

One scenario per database (``world``, built once per module) runs every action
that writes activity -- upload, fake purchase, create, a failed create, a
Stripe Checkout session and its paid webhook, feedback when the route exists --
and remembers which events each action added. The tests then read the ledger
back through ``GET /v1/activity`` and ``GET /v1/activity/{reference}`` and look
behind the API at the ``activity_events`` / ``activity_refs`` tables.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from httpx import Response
from sqlalchemy import Engine, create_engine, insert, text

from image_skill.contract.envelope import EXIT_CODE_HEADER
from image_skill.contract.errors import spec_for
from image_skill.service.activity import recorder
from image_skill.service.activity.recorder import LINK_KEYS, REGISTRY, Headline, Origin, record
from image_skill.service.db.models import ActivityEvent, Organization
from image_skill.service.settings import to_async_url, to_sync_url
from tests.fakes.stripe_api import FakeStripe, checkout_event, signed_event
from tests.support.agents import Agent, sign_up
from tests.support.apps import started_app
from tests.support.databases import blank_database
from tests.support.envelopes import assert_envelope, ok
from tests.support.images import png
from tests.support.plugins import counting
from tests.support.routes import route_table

PROMPT_A = "lighthouse-marker-7c1e at dusk"
PROMPT_FAIL = "failing-marker-93ab over water"
PROMPT_B = "other-org-marker-51d2 in fog"
STRIPE_KEY = "sk_test_51ActivityLedgerFakeKeyAbCdEfGhIjKlMnOp"
WEBHOOK_SECRET = "whsec_test_ActivityLedgerEndpointSecret0123456789"
FEEDBACK_ROUTE = ("POST", "/v1/feedback")
UPLOADS_C = 23  # more than one default page


# --- one scenario per database -------------------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def module_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A blank database shared by this module's read-only tests (one per kind)."""
    with blank_database(request.param, tmp_path_factory.mktemp("activity")) as url:
        yield url


@dataclass
class World:
    """The scenario's agents, answers and the events each action added (newest first)."""

    a: Agent
    b: Agent
    c: Agent
    db: Engine
    feedback_available: bool
    added: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    storage_keys: list[str] = field(default_factory=list)

    def events(self, agent: Agent | None = None) -> list[dict[str, Any]]:
        """Every event ``agent`` (default: A) can list, newest first."""
        data = ok((agent or self.a).get("/v1/activity", params={"limit": 100}), 200)
        events: list[dict[str, Any]] = data["events"]
        assert data["next_cursor"] is None, "the scenario outgrew one page"
        return events

    def act(
        self, name: str, run: Callable[[], Response], status: int = 201, *, replay: bool = False
    ) -> dict[str, Any]:
        """Run one action of A; remember its envelope and the events it added.

        With ``replay`` the same request is sent once more (a retry, a redelivery);
        what that added is kept under ``"<name>:again"``.
        """
        before = {event["event_id"] for event in self.events()}
        response = run()
        assert response.status_code == status, response.text
        envelope: dict[str, Any] = response.json()
        self.answers[name] = envelope
        self.added[name] = [e for e in self.events() if e["event_id"] not in before]
        if replay:
            seen = {event["event_id"] for event in self.events()}
            again = run()
            assert again.status_code < 300, again.text
            self.added[f"{name}:again"] = [e for e in self.events() if e["event_id"] not in seen]
        return envelope


def _feedback_route_exists(app: Any) -> bool:
    return any(
        route.path == FEEDBACK_ROUTE[1] and FEEDBACK_ROUTE[0] in route.methods
        for route in route_table(app)
    )


def _build(world: World, fake: FakeStripe) -> None:
    a, b = world.a, world.b
    world.act("upload", lambda: a.upload(png()), replay=True)
    quote = ok(a.post("/v1/credit-quotes", _quote_body("fake", "fq-1")))
    world.answers["fake_quote"] = {"data": quote}
    world.act(
        "fake_purchase",
        lambda: a.post(
            "/v1/credit-purchases", {"quote_id": quote["quote_id"], "idempotency_key": "fp-1"}
        ),
        replay=True,
    )
    world.act(
        "dry_run", lambda: a.create(prompt=PROMPT_A, model="test.counting", dry_run=True), 200
    )
    world.act(
        "create", lambda: a.create("c-1", prompt=PROMPT_A, model="test.counting"), replay=True
    )
    world.act("failed_create", lambda: a.create(prompt=PROMPT_FAIL, model="test.failing"), 502)
    world.act(
        "stripe_quote", lambda: a.post("/v1/credit-quotes", _quote_body("stripe_checkout", "sq-1"))
    )
    stripe_quote = world.answers["stripe_quote"]["data"]
    world.act(
        "stripe_buy",
        lambda: a.post(
            "/v1/credit-purchases/stripe-checkout-sessions",
            {"quote_id": stripe_quote["quote_id"], "idempotency_key": "sb-1"},
        ),
        replay=True,
    )
    session_id = world.answers["stripe_buy"]["data"]["checkout_session_id"]
    event = checkout_event(
        "checkout.session.completed", session_id, "paid", session=fake.session(session_id)
    )
    payload, signature = signed_event(WEBHOOK_SECRET, event)
    world.act(
        "stripe_paid",
        lambda: a.client.post(
            "/v1/webhooks/stripe",
            content=payload,
            headers={"Content-Type": "application/json", "Stripe-Signature": signature},
        ),
        200,
        replay=True,
    )
    if world.feedback_available:
        world.act("feedback", lambda: a.post("/v1/feedback", _feedback_body()), replay=True)
    world.answers["b_create"] = ok(b.create(prompt=PROMPT_B, model="test.counting"))
    for shade in range(UPLOADS_C):
        ok(world.c.upload(png(8, 8, (shade, 0, 0))))  # distinct bytes: uploads dedupe by digest
    with world.db.connect() as conn:
        world.storage_keys = [str(k) for k in conn.execute(text("SELECT storage_key FROM assets"))]


def _quote_body(method: str, key: str) -> dict[str, Any]:
    return {"pack_id": "starter-500", "payment_method": method, "idempotency_key": key}


def _feedback_body() -> dict[str, Any]:
    return {
        "type": "user_feedback",
        "title": "Activity ledger check",
        "body": "The ledger should show this feedback once.",
        "severity": "low",
        "confidence": "high",
        "next_state": "watch",
        "surface": ["cli"],
        "evidence": [],
        "dedupe_key": "activity-ledger-check",
    }


@pytest.fixture(scope="module")
def world(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    home = tmp_path_factory.mktemp("activity-home")
    with pytest.MonkeyPatch.context() as patch, FakeStripe(STRIPE_KEY) as fake:
        for name in ("IMAGE_SKILL_TOKEN", "IMAGE_SKILL_API_BASE_URL", "IMAGE_SKILL_DATABASE_URL"):
            patch.delenv(name, raising=False)
        patch.setenv("IMAGE_SKILL_TELEMETRY", "off")
        patch.setenv("IMAGE_SKILL_ENVIRONMENT", "test")
        with (
            counting(patch, home),
            started_app(
                module_database_url,
                home / "service",
                stripe_secret_key=STRIPE_KEY,
                stripe_webhook_secret=WEBHOOK_SECRET,
                stripe_api_base=fake.url,
                fake_payments_enabled=True,
                daily_upload_cap_unclaimed=1000,  # the shared world uploads more than a day's cap
            ) as client,
        ):
            engine = create_engine(to_sync_url(to_async_url(module_database_url)))
            try:
                built = World(
                    a=sign_up(client, "alice@example.com", "alice-bot"),
                    b=sign_up(client, "bob@example.com", "bob-bot"),
                    c=sign_up(client, "carol@example.com", "carol-bot"),
                    db=engine,
                    feedback_available=_feedback_route_exists(client.app),
                )
                _build(built, fake)
                yield built
            finally:
                engine.dispose()


# --- helpers -------------------------------------------------------------------------------


def error(response: Response, code: str) -> dict[str, Any]:
    envelope: dict[str, Any] = response.json()
    assert_envelope(envelope, ok=False)
    assert envelope["error"]["code"] == code, envelope["error"]
    assert response.status_code == spec_for(code).http_status
    assert response.headers[EXIT_CODE_HEADER] == str(spec_for(code).exit_code)
    failure: dict[str, Any] = envelope["error"]
    return failure


def show(agent: Agent, reference: str) -> dict[str, Any]:
    response = agent.get(f"/v1/activity/{reference}")
    assert response.json()["command"] == "image-skill activity show"
    return ok(response, 200)


def only(events: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(events) == 1, [event["type"] for event in events]
    return events[0]


def links(**present: Any) -> dict[str, Any]:
    """All nine link keys, null unless given."""
    return {key: present.get(key) for key in LINK_KEYS}


def refs_of(event: dict[str, Any]) -> set[str]:
    found = {event["subject"]["id"], event["trace_id"]}
    for value in event["links"].values():
        found.update(value if isinstance(value, list) else [value])
    return {value for value in found if value}


def db_rows(db: Engine, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    with db.connect() as conn:
        return [tuple(row) for row in conn.execute(text(sql), params)]


# --- each action, its events ---------------------------------------------------------------


def test_create_records_usage_asset_and_job_once_sharing_links(world: World) -> None:
    answer = world.answers["create"]
    job_id = answer["data"]["job_id"]
    (asset_id,) = [asset["asset_id"] for asset in answer["data"]["assets"]]
    events = world.added["create"]

    # Newest first, in the order the job wrote them.
    assert [e["type"] for e in events] == [
        "job.completed",
        "asset.created",
        "usage.credit_consumed",
    ]
    job, asset, usage = events
    usage_id = usage["subject"]["id"]
    assert usage_id.startswith("usage_")
    assert job["subject"] == {"type": "job", "id": job_id}
    assert asset["subject"] == {"type": "asset", "id": asset_id}
    assert usage["subject"] == {"type": "usage", "id": usage_id}
    shared = links(job_id=job_id, asset_ids=[asset_id], usage_event_id=usage_id)
    assert job["links"] == shared
    assert asset["links"] == shared
    assert usage["links"] == links(job_id=job_id, usage_event_id=usage_id)
    assert [e["operation"] for e in events] == ["create", "create", "usage"]
    assert [e["status"] for e in events] == ["completed", "available", "recorded"]
    assert {e["trace_id"] for e in events} == {answer["trace_id"]}
    credits = answer["data"]["quota"]["credits_debited"]
    assert job["cost"]["credits"] == usage["cost"]["credits"] == credits > 0
    assert job["summary"] == "Create job completed"
    for event in events:
        assert event["event_id"].startswith("evt_")
        assert event["occurred_at"].endswith("Z") and len(event["occurred_at"]) == 24


def test_failed_job_records_job_completed_failed_and_nothing_else(world: World) -> None:
    answer = world.answers["failed_create"]
    assert answer["error"]["code"] == "PROVIDER_FAILED"
    failed_jobs = ok(world.a.get("/v1/jobs", params={"status": "failed"}), 200)["jobs"]
    (job_id,) = [job["job_id"] for job in failed_jobs]
    event = only(world.added["failed_create"])
    assert event["type"] == "job.completed"
    assert event["status"] == "failed"
    assert event["subject"] == {"type": "job", "id": job_id}
    assert event["links"] == links(job_id=job_id, asset_ids=[])
    assert event["cost"]["credits"] == 0
    assert event["trace_id"] == answer["trace_id"]


def test_upload_records_asset_uploaded_once(world: World) -> None:
    asset = world.answers["upload"]["data"]["asset"]
    event = only(world.added["upload"])
    assert event["type"] == "asset.uploaded"
    assert event["operation"] == "upload"
    assert event["subject"] == {"type": "asset", "id": asset["asset_id"]}
    assert event["links"] == links(job_id=asset["job_id"], asset_ids=[asset["asset_id"]])
    assert event["trace_id"] == world.answers["upload"]["trace_id"]


def test_fake_purchase_records_one_payment_backed_grant(world: World) -> None:
    paid = world.answers["fake_purchase"]["data"]
    event = only(world.added["fake_purchase"])
    assert event["type"] == "credits.payment_backed_granted"
    assert event["operation"] == "credits"
    assert event["subject"] == {"type": "credit", "id": paid["credit_event_id"]}
    assert paid["credit_event_id"].startswith("credit_event_")
    assert event["links"] == links(
        quote_id=world.answers["fake_quote"]["data"]["quote_id"],
        receipt_id=paid["receipt_id"],
        credit_event_id=paid["credit_event_id"],
    )
    assert event["trace_id"] == world.answers["fake_purchase"]["trace_id"]


def test_stripe_checkout_records_session_created_then_the_paid_grant(world: World) -> None:
    assert world.added["stripe_quote"] == []
    bought = world.answers["stripe_buy"]["data"]
    created = only(world.added["stripe_buy"])
    assert created["type"] == "payment.checkout_session.created"
    assert created["operation"] == "payment"
    assert created["status"] == "action_required"
    assert created["subject"] == {"type": "payment", "id": bought["payment_attempt_id"]}
    assert created["links"] == links(
        quote_id=bought["quote_id"],
        payment_attempt_id=bought["payment_attempt_id"],
        checkout_session_id=bought["checkout_session_id"],
    )

    granted = only(world.added["stripe_paid"])
    status = ok(
        world.a.get("/v1/credit-purchases/status", params={"quote_id": bought["quote_id"]}), 200
    )
    assert granted["type"] == "credits.payment_backed_granted"
    assert granted["links"] == links(
        quote_id=bought["quote_id"],
        receipt_id=status["receipt"]["receipt_id"],
        credit_event_id=status["credit_event"]["credit_event_id"],
    )


def test_retries_replays_and_redeliveries_record_nothing_more(world: World) -> None:
    replayed = sorted(name for name in world.added if name.endswith(":again"))
    expected = ["create", "fake_purchase", "stripe_buy", "stripe_paid", "upload"]
    if world.feedback_available:
        expected.append("feedback")
    assert replayed == sorted(f"{name}:again" for name in expected)
    for name in replayed:
        assert world.added[name] == [], name


def test_dry_runs_and_quotes_record_nothing(world: World) -> None:
    assert world.answers["dry_run"]["ok"] is True
    assert world.added["dry_run"] == []
    assert world.added["stripe_quote"] == []


def test_feedback_records_feedback_created_once(world: World) -> None:
    assert world.feedback_available
    answer = world.answers["feedback"]
    event = only(world.added["feedback"])
    feedback_id = event["subject"]["id"]
    assert feedback_id.startswith("sig_") and feedback_id in str(answer["data"])
    assert event["type"] == "feedback.created"
    assert event["operation"] == "feedback"
    assert event["subject"]["type"] == "feedback"
    assert event["links"] == links(feedback_id=feedback_id)
    assert [e["event_id"] for e in show(world.a, feedback_id)["events"]] == [event["event_id"]]


def test_the_ledger_holds_only_registry_types_in_expected_numbers(world: World) -> None:
    types = {row[0] for row in db_rows(world.db, "SELECT DISTINCT type FROM activity_events")}
    assert types <= set(REGISTRY)
    expected = {
        "job.completed": 2,
        "asset.created": 1,
        "asset.uploaded": 1,
        "usage.credit_consumed": 1,
        "payment.checkout_session.created": 1,
        "credits.payment_backed_granted": 2,
    }
    if world.feedback_available:
        expected["feedback.created"] = 1
    counts: dict[str, int] = {}
    for event in world.events():
        counts[event["type"]] = counts.get(event["type"], 0) + 1
    assert counts == expected
    # Every added event is attributed to exactly one action.
    added = [event["event_id"] for events in world.added.values() for event in events]
    assert sorted(added) == sorted(event["event_id"] for event in world.events())


# --- reading back --------------------------------------------------------------------------


def _references(world: World) -> dict[str, str]:
    create = world.added["create"]
    bought = world.answers["stripe_buy"]["data"]
    paid = world.answers["fake_purchase"]["data"]
    feedback = (
        {"feedback": world.added["feedback"][0]["subject"]["id"]}
        if "feedback" in world.added
        else {}
    )
    return feedback | {
        "event": create[1]["event_id"],
        "job": world.answers["create"]["data"]["job_id"],
        "asset": world.answers["create"]["data"]["assets"][0]["asset_id"],
        "usage": create[0]["links"]["usage_event_id"],
        "trace": world.answers["create"]["trace_id"],
        "quote": bought["quote_id"],
        "payment_attempt": bought["payment_attempt_id"],
        "checkout_session": bought["checkout_session_id"],
        "receipt": paid["receipt_id"],
        "credit_event": paid["credit_event_id"],
    }


def test_show_resolves_every_reference_kind(world: World) -> None:
    everything = world.events()
    uploaded = world.answers["upload"]["data"]["asset"]["asset_id"]
    cases = [*_references(world).items(), ("asset", uploaded)]
    for kind, reference in cases:
        data = show(world.a, reference)
        assert data["reference"] == {"id": reference, "type": kind}
        assert data["source"] == "hosted_activity_ledger"
        if kind == "event":
            (expected,) = [e for e in everything if e["event_id"] == reference]
            assert data["event"] == expected
            assert data["events"] == [expected]
            continue
        assert data["event"] is None
        expected_events = [e for e in everything if reference in refs_of(e)]
        assert expected_events, kind
        assert data["events"] == expected_events, kind
    # The create's job and trace reach all three of its events.
    assert len(show(world.a, _references(world)["job"])["events"]) == 3
    assert len(show(world.a, _references(world)["trace"])["events"]) == 3


def test_list_subject_filters_to_events_referring_to_it(world: World) -> None:
    for reference in _references(world).values():
        response = world.a.get("/v1/activity", params={"subject": reference})
        assert response.json()["command"] == "image-skill activity list"
        listed = ok(response, 200)["events"]
        assert listed == show(world.a, reference)["events"]
        assert all(reference in refs_of(e) or e["event_id"] == reference for e in listed)
    # A subject nothing refers to is an empty page, not an error.
    empty = ok(world.a.get("/v1/activity", params={"subject": "job_nothingrefersto"}), 200)
    assert empty == {"events": [], "next_cursor": None, "source": "hosted_activity_ledger"}


def test_pagination_walks_every_event_once_newest_first(world: World) -> None:
    everything = world.events()
    assert len(everything) >= 7
    ids = [event["event_id"] for event in everything]
    assert ids == sorted(ids, reverse=True)
    walked: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        data = ok(world.a.get("/v1/activity", params=params), 200)
        pages += 1
        assert len(data["events"]) == 2 if data["next_cursor"] else 1 <= len(data["events"]) <= 2
        walked.extend(event["event_id"] for event in data["events"])
        cursor = data["next_cursor"]
        if cursor is None:
            break
        assert cursor == walked[-1]
    assert walked == ids
    assert pages == -(-len(ids) // 2)
    # The subject filter pages the same way.
    job_id = _references(world)["job"]
    first = ok(world.a.get("/v1/activity", params={"subject": job_id, "limit": 2}), 200)
    rest = ok(
        world.a.get(
            "/v1/activity", params={"subject": job_id, "limit": 2, "cursor": first["next_cursor"]}
        ),
        200,
    )
    assert [e["type"] for e in first["events"] + rest["events"]] == [
        "job.completed",
        "asset.created",
        "usage.credit_consumed",
    ]
    assert rest["next_cursor"] is None


def test_default_limit_and_limit_bounds(world: World) -> None:
    everything = world.events(world.c)
    assert [e["type"] for e in everything] == ["asset.uploaded"] * UPLOADS_C
    first = ok(world.c.get("/v1/activity"), 200)
    assert first["events"] == everything[:20]
    assert first["next_cursor"] == everything[19]["event_id"]
    rest = ok(world.c.get("/v1/activity", params={"cursor": first["next_cursor"]}), 200)
    assert rest == {"events": everything[20:], "next_cursor": None, "source": first["source"]}
    one = ok(world.c.get("/v1/activity", params={"limit": 1}), 200)
    assert one["events"] == everything[:1] and one["next_cursor"] == everything[0]["event_id"]
    for bad in ("0", "101", "-3", "many"):
        problem = error(world.a.get("/v1/activity", params={"limit": bad}), "INVALID_ARGUMENTS")
        assert "limit" in problem["message"]


def test_other_organizations_references_are_not_found(world: World) -> None:
    b_events = world.events(world.b)
    assert [e["type"] for e in b_events] == [
        "job.completed",
        "asset.created",
        "usage.credit_consumed",
    ]
    a_ids = {event["event_id"] for event in world.events()}
    assert a_ids.isdisjoint(event["event_id"] for event in b_events)
    b_refs = set().union(*(refs_of(e) for e in b_events)) | {e["event_id"] for e in b_events}
    for reference in sorted(b_refs):
        error(world.a.get(f"/v1/activity/{reference}"), "NOT_FOUND")
        listed = ok(world.a.get("/v1/activity", params={"subject": reference}), 200)
        assert listed["events"] == []
    # ... and the other way round.
    for reference in _references(world).values():
        error(world.b.get(f"/v1/activity/{reference}"), "NOT_FOUND")


def test_unknown_and_malformed_references(world: World) -> None:
    for unknown in ("job_doesnotexist", "evt_01zzzzzzzzzzzzzzzzzzzzzzzz", "image_none", "sig_x"):
        failure = error(world.a.get(f"/v1/activity/{unknown}"), "NOT_FOUND")
        assert unknown not in failure["message"]
    for malformed in ("nonsense", "job_", "job_a%20b", "JOB_x", "evt_a$b", "x" * 300):
        error(world.a.get(f"/v1/activity/{malformed}"), "INVALID_ARGUMENTS")
        error(world.a.get("/v1/activity", params={"subject": malformed}), "INVALID_ARGUMENTS")
    for cursor in ("job_123", "evt_a-b", "garbage"):
        error(world.a.get("/v1/activity", params={"cursor": cursor}), "INVALID_ARGUMENTS")
    anonymous = world.a.client
    error(anonymous.get("/v1/activity"), "AUTH_REQUIRED")
    error(anonymous.get(f"/v1/activity/{_references(world)['job']}"), "AUTH_REQUIRED")


# --- behind the API ------------------------------------------------------------------------


def test_no_prompt_provider_or_storage_detail_in_the_ledger(world: World) -> None:
    rows = db_rows(world.db, "SELECT * FROM activity_events") + db_rows(
        world.db, "SELECT * FROM activity_refs"
    )
    assert len(rows) > 20
    stored = "\n".join(map(repr, rows))
    bodies = [
        world.a.get("/v1/activity", params={"limit": 100}).text,
        world.b.get("/v1/activity", params={"limit": 100}).text,
        *(world.a.get(f"/v1/activity/{ref}").text for ref in _references(world).values()),
    ]
    forbidden = [
        PROMPT_A,
        PROMPT_FAIL,
        PROMPT_B,
        "marker",
        "test.counting",
        "test.failing",
        STRIPE_KEY,
        *world.storage_keys,
    ]
    assert world.storage_keys
    for text_ in (stored.lower(), *(body.lower() for body in bodies)):
        for secret in forbidden:
            assert secret.lower() not in text_, secret


def test_reference_index_holds_every_id_each_event_refers_to(world: World) -> None:
    index: dict[str, set[str]] = {}
    for event_id, ref, organization_id in db_rows(
        world.db, "SELECT event_id, ref, organization_id FROM activity_refs"
    ):
        index.setdefault(event_id, set()).add(ref)
        assert organization_id in {w.organization_id for w in (world.a, world.b, world.c)}
    everything = world.events() + world.events(world.b) + world.events(world.c)
    assert set(index) == {event["event_id"] for event in everything}
    for event in everything:
        assert index[event["event_id"]] == refs_of(event), event["type"]
    org_of = dict(db_rows(world.db, "SELECT id, organization_id FROM activity_events"))
    for event_id, _ref, organization_id in db_rows(world.db, "SELECT * FROM activity_refs"):
        assert org_of[event_id] == organization_id


# --- the recorder and the migration (no scenario needed) ------------------------------------


def _record(event_type: str = "job.completed", **overrides: Any) -> None:
    fields: dict[str, Any] = {"subject_id": "job_x", "links": {"job_id": "job_x"}} | overrides
    headline = Headline(event_type, "s", "completed")
    origin = Origin("org_x", None, None)
    asyncio.run(record(None, headline, origin, **fields))  # type: ignore[arg-type]  # refused before any I/O


def test_recorder_refuses_what_the_registry_does_not_allow() -> None:
    with pytest.raises(KeyError):
        _record(event_type="job.started")
    with pytest.raises(ValueError, match="links"):
        _record(links={"provider": "x"})
    with pytest.raises(ValueError, match="operation"):
        _record(event_type="usage.credit_consumed", operation="create")
    with pytest.raises(ValueError, match="operation"):
        _record(operation="upload")


def test_event_ids_of_one_session_keep_their_written_order() -> None:
    session: Any = SimpleNamespace(info={})
    ids = [recorder._next_event_id(session) for _ in range(200)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(len(i) == len(ids[0]) and i.startswith("evt_") for i in ids)
    # A random part at its maximum rolls over into the next millisecond.
    last = "evt_01m810rp7j" + "z" * 16
    after = recorder._successor(last)
    assert after > last and after.startswith("evt_01m810rp7k") and len(after) == len(last)
    assert recorder._successor("evt_01m810rp7j0000000000000000")[:14] == "evt_01m810rp7j"


def test_migration_indexes_events_written_before_it(database_url: str) -> None:
    from alembic import command

    from image_skill.service.db.migrate import alembic_config
    from image_skill.service.db.migrations import SCHEMA_HEAD
    from image_skill.service.db.models import ActivityRef

    sync_url = to_sync_url(to_async_url(database_url))
    config = alembic_config(sync_url)
    command.upgrade(config, "0004_feedback")  # type: ignore[arg-type]
    engine = create_engine(sync_url)
    try:
        from image_skill.contract.ids import utc_now

        with engine.begin() as conn:
            conn.execute(
                insert(Organization.__table__),
                [{"id": "org_old", "name": "old", "created_at": utc_now()}],
            )
            row = {
                "id": "evt_old1",
                "organization_id": "org_old",
                "actor_id": None,
                "type": "job.completed",
                "subject_type": "job",
                "subject_id": "job_old",
                "operation": "create",
                "summary": "Create job completed",
                "status": "completed",
                "cost": None,
                "links": {
                    "job_id": "job_old",
                    "asset_ids": ["image_a", "image_b"],
                    "usage_event_id": None,
                },
                "trace_id": "trace_0123456789abcdef",
                "occurred_at": utc_now(),
            }
            conn.execute(insert(ActivityEvent.__table__), [row])
        command.upgrade(config, "head")  # type: ignore[arg-type]
        with engine.connect() as conn:
            refs = conn.execute(
                text("SELECT ref, organization_id FROM activity_refs WHERE event_id = 'evt_old1'")
            ).all()
            head = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        assert head == SCHEMA_HEAD
        assert {tuple(r) for r in refs} == {
            (ref, "org_old") for ref in ("job_old", "image_a", "image_b", "trace_0123456789abcdef")
        }
        assert ActivityRef.__tablename__ == "activity_refs"
    finally:
        engine.dispose()
