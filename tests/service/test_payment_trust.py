"""Trust boundaries of payments (issue 10): no fake money where real money exists,
hostile Stripe events, webhook timestamps both ways, events in any order, the
status oracle and strict number types.

In-process apps (both databases) wired to ``FakeStripe`` through the official
SDK, plus real ``image-skill serve`` / ``admin`` processes for start-up rules.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from image_skill.service.app import create_app
from image_skill.service.settings import Settings
from tests.fakes.stripe_api import FakeStripe, checkout_event
from tests.support.apps import PEPPER
from tests.support.cli import RunCli
from tests.support.envelopes import ok
from tests.support.servers import start_server, stop_server
from tests.support.stripe_shop import (
    PACK_CREDITS,
    SECRET_KEY,
    WEBHOOK_SECRET,
    Shop,
    error,
    recorder,
)

LIVE_KEY = "sk_live_51ImageSkillLiveKeyAbCdEfGhIjKlMnOpQrStUv"
PRODUCTION_PEPPER = "production-pepper-0123456789abcdef0123456789"
STATUS = "/v1/credit-purchases/status"
pytestmark = pytest.mark.usefixtures("no_ambient_payment_settings")


class Shops:
    """``make(**settings)``: started in-process apps on one database, the fake behind them."""

    def __init__(self, database_url: str, home: Path, fake: FakeStripe, db: Engine) -> None:
        self.database_url, self.home, self.fake, self.db = database_url, home, fake, db
        self.stack = ExitStack()
        self.count = 0

    def make(self, **overrides: Any) -> Shop:
        values: dict[str, Any] = {
            "database_url": self.database_url,
            "home": self.home / f"service-{self.count}",
            "embedded": False,
            "environment": "test",
            "token_pepper": PEPPER,
            "stripe_secret_key": SECRET_KEY,
            "stripe_webhook_secret": WEBHOOK_SECRET,
            "stripe_api_base": self.fake.url,
            **overrides,
        }
        self.count += 1
        client = self.stack.enter_context(TestClient(create_app(Settings(**values))))
        shop = Shop(client, self.fake, self.db)
        client.event_hooks = {"request": [], "response": [recorder(shop.response_bodies)]}
        return shop


@pytest.fixture
def shops(
    database_url: str, tmp_path: Path, fake_stripe: FakeStripe, db: Engine
) -> Iterator[Shops]:
    made = Shops(database_url, tmp_path, fake_stripe, db)
    with made.stack:
        yield made


@pytest.fixture
def shop(shops: Shops) -> Shop:
    return shops.make()


def fake_quote(shop: Shop, token: str, key: str, credits: int = 5000) -> httpx.Response:
    return shop.http.post(
        "/v1/credit-quotes",
        json={"credits": credits, "payment_method": "fake", "idempotency_key": key},
        headers={"Authorization": f"Bearer {token}"},
    )


def fake_purchase(shop: Shop, token: str, quote_id: str, key: str) -> httpx.Response:
    return shop.http.post(
        "/v1/credit-purchases",
        json={"quote_id": quote_id, "idempotency_key": key},
        headers={"Authorization": f"Bearer {token}"},
    )


# --- no fake money where real money exists ---------------------------------------------------


def test_production_with_a_live_stripe_key_refuses_fake_quotes_and_purchases(
    shops: Shops,
) -> None:
    """The reported attack: 5,000 credits quoted and fake-purchased three times over."""
    shop = shops.make(
        environment="production", token_pepper=PRODUCTION_PEPPER, stripe_secret_key=LIVE_KEY
    )
    agent = shop.signup("intruder")
    before = shop.balance(agent)

    for attempt in range(3):
        quoted = error(
            fake_quote(shop, agent.token, f"q-{attempt}"), "PAYMENT_PROVIDER_NOT_CONFIGURED", 403, 4
        )
        assert "fake" in quoted["message"]
        # The recovery points at the real rail, which exists here.
        assert "--payment-method stripe_checkout" in quoted["recovery"]["suggested_command"]
        bought = error(
            fake_purchase(shop, agent.token, "quote_01jz0000000000000000000000", f"p-{attempt}"),
            "PAYMENT_PROVIDER_NOT_CONFIGURED",
            403,
            4,
        )
        assert "stripe_checkout" in bought["recovery"]["suggested_command"]

    assert shop.balance(agent) == before
    assert shop.count("credit_quotes") == 0
    assert shop.count("receipts") == 0
    assert shop.count("credit_ledger_entries", "kind = 'purchase_grant'") == 0
    # The real rail still quotes, and says it is live money.
    stripe_quote = shop.quote(agent, "q-real")
    assert stripe_quote["live_money"] is True


def test_a_server_without_any_payment_provider_refuses_fake_quotes_without_a_dead_end(
    shops: Shops,
) -> None:
    shop = shops.make(stripe_secret_key=None, stripe_webhook_secret=None)
    agent = shop.signup()
    refused = error(
        fake_quote(shop, agent.token, "q-none"), "PAYMENT_PROVIDER_NOT_CONFIGURED", 403, 4
    )
    assert "no payment provider" in refused["message"]
    assert "fake" not in json.dumps(refused.get("recovery") or {})


def test_a_fake_quote_made_before_the_rail_was_switched_off_cannot_be_settled(
    shops: Shops,
) -> None:
    on = shops.make(fake_payments_enabled=True)
    agent = on.signup()
    quote = ok(fake_quote(on, agent.token, "q-before", credits=40))
    off = shops.make()

    refused = error(
        fake_purchase(off, agent.token, quote["quote_id"], "p-after"),
        "PAYMENT_PROVIDER_NOT_CONFIGURED",
        403,
        4,
    )

    assert "stripe_checkout" in refused["recovery"]["suggested_command"]
    status = off.status(agent, quote_id=quote["quote_id"])
    assert status["state"] == "quoted"
    assert "stripe_checkout" in status["next"]["suggested_command"]
    assert off.receipts(quote["quote_id"]) == 0


def test_embedded_mode_has_the_fake_rail_only_without_real_money(run_embedded: RunCli) -> None:
    # No Stripe key on the owner's machine: no real money exists, the fake rail works.
    quote = run_embedded("credits", "quote", "--credits", "12", "--idempotency-key", "e-q")
    assert quote.exit_code == 0, quote.stdout + quote.stderr
    quote_id = quote.data["quote_id"]
    paid = run_embedded(
        "credits", "fake-purchase", "--quote-id", quote_id, "--idempotency-key", "p"
    )
    assert paid.exit_code == 0 and paid.data["credits_granted"] == 12

    # A Stripe key makes money real: the fake rail is off unless switched on explicitly,
    # and a quote that names no rail is a Stripe one.
    stripe_env = {"IMAGE_SKILL_STRIPE_SECRET_KEY": SECRET_KEY}
    fake = ("--payment-method", "fake")
    refused = run_embedded("credits", "quote", "--credits", "12", *fake, env=stripe_env)
    assert (refused.exit_code, refused.code) == (4, "PAYMENT_PROVIDER_NOT_CONFIGURED")
    assert "stripe_checkout" in refused.envelope["error"]["recovery"]["suggested_command"]
    stripe = run_embedded("credits", "quote", "--credits", "60", env=stripe_env)
    assert stripe.exit_code == 0 and stripe.data["accepted_payment_method"] == "stripe_checkout"
    # An explicit "off" wins in embedded mode too.
    off = run_embedded(
        "credits", "quote", "--credits", "12", env={"IMAGE_SKILL_FAKE_PAYMENTS_ENABLED": "false"}
    )
    assert (off.exit_code, off.code) == (4, "PAYMENT_PROVIDER_NOT_CONFIGURED")


@pytest.fixture
def run_embedded(cli: RunCli) -> RunCli:
    """The CLI in embedded mode with ``--json`` appended."""

    def run(*argv: str, env: dict[str, str] | None = None) -> Any:
        return cli(*argv, "--json", env=env)

    return run


PRODUCTION_ENV = {
    "IMAGE_SKILL_ENVIRONMENT": "production",
    "IMAGE_SKILL_TOKEN_PEPPER": PRODUCTION_PEPPER,
    "IMAGE_SKILL_STRIPE_SECRET_KEY": LIVE_KEY,
    "IMAGE_SKILL_FAKE_PAYMENTS_ENABLED": "true",
}


@pytest.mark.parametrize(
    "argv", [("serve", "--port", "1"), ("admin", "agents", "list")], ids=["serve", "admin"]
)
def test_production_with_fake_payments_but_no_allow_switch_does_not_start(
    cli: RunCli, tmp_path: Path, argv: tuple[str, ...]
) -> None:
    env = {**PRODUCTION_ENV, "IMAGE_SKILL_DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}"}
    result = cli(*argv, env=env, timeout=30)

    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "INVALID_ARGUMENTS" in line
    assert "IMAGE_SKILL_ALLOW_FAKE_PAYMENTS_IN_PRODUCTION" in line
    assert LIVE_KEY not in result.stderr and PRODUCTION_PEPPER not in result.stderr
    assert not (tmp_path / "p.db").exists(), "nothing may start, not even migrations"
    as_json = cli(*argv, "--json", env=env, timeout=30)
    assert (as_json.exit_code, as_json.code) == (2, "INVALID_ARGUMENTS")


def test_production_with_both_switches_starts_and_warns_at_every_start(tmp_path: Path) -> None:
    env = {**PRODUCTION_ENV, "IMAGE_SKILL_ALLOW_FAKE_PAYMENTS_IN_PRODUCTION": "true"}
    database_url = f"sqlite:///{tmp_path / 'warn.db'}"
    for start in range(2):
        workdir = tmp_path / f"start-{start}"
        workdir.mkdir()
        server = start_server(database_url, workdir, extra_env=env)
        try:
            with httpx.Client(base_url=server.base_url, timeout=30) as http:
                signup = http.post(
                    "/v1/agent-signups",
                    json={"human_email": f"w{start}@example.com", "agent_name": f"w{start}"},
                )
                assert signup.status_code in (200, 201), signup.text
                token = signup.json()["data"]["token"]
                headers = {"Authorization": f"Bearer {token}"}
                quote = http.post(
                    "/v1/credit-quotes",
                    json={"credits": 5, "payment_method": "fake", "idempotency_key": "q"},
                    headers=headers,
                )
                assert quote.status_code == 201, quote.text  # explicitly allowed
        finally:
            stop_server(server)
        log = server.log()
        warnings = [line for line in log.splitlines() if "fake settlement rail" in line]
        assert len(warnings) == 1 and "WARNING" in warnings[0], log
        assert LIVE_KEY not in log and PRODUCTION_PEPPER not in log


# --- hostile, correctly signed Stripe events --------------------------------------------------


def _event(session_id: str, event_id: str, **fields: Any) -> dict[str, Any]:
    event = checkout_event("checkout.session.completed", session_id, "paid", event_id)
    event.update(fields)
    return event


def test_signed_events_with_malformed_ids_are_refused_and_write_nothing(shop: Shop) -> None:
    agent = shop.signup()
    bought = shop.bought(agent, "hostile")
    session_id = bought["checkout_session_id"]
    long_id = "evt_" + "a" * 300
    hostile: dict[str, dict[str, Any]] = {
        "event id over 255": _event(session_id, long_id),
        "event id with NUL": _event(session_id, "evt_abc\x00def"),
        "event id not a string": _event(session_id, "evt_x", id=12345),
        "event id wrong prefix": _event(session_id, "ch_abcdef"),
        "event id with newline": _event(session_id, "evt_abc\n"),
        "no event id": _event(session_id, "evt_x", id=None),
        "session id over 255": _event("cs_" + "b" * 300, "evt_long_session"),
        "session id with NUL": _event("cs_test_\x00abc", "evt_nul_session"),
        "session id not a string": _event(session_id, "evt_int_session"),
        "type with NUL": _event(session_id, "evt_nul_type", type="checkout.session.completed\x00"),
        "type over 100": _event(session_id, "evt_long_type", type="a." * 60),
        "type not a string": _event(session_id, "evt_list_type", type=["checkout"]),
    }
    hostile["session id not a string"]["data"]["object"]["id"] = ["cs_test_x"]
    for name, event in hostile.items():
        failure = error(shop.post_webhook(*shop.sign(event)), "INVALID_ARGUMENTS", 400, 2)
        assert failure["details"]["field"] in ("id", "type", "data.object.id"), name
        assert "\x00" not in failure["message"] and long_id not in failure["message"], name
        assert shop.provider_events() == 0, name

    assert shop.receipts(bought["quote_id"]) == 0
    assert shop.attempt_status(bought["payment_attempt_id"]) == "requires_action"
    # A well-formed event for the same session is still accepted afterwards.
    good = shop.event("checkout.session.completed", session_id, "paid", "evt_" + "c" * 251)
    assert shop.deliver(good)["outcome"] == "granted"


def test_webhook_timestamps_are_bounded_in_both_directions(shops: Shops) -> None:
    shop = shops.make(webhook_tolerance_seconds=120)
    agent = shop.signup()
    bought = shop.bought(agent, "clock")
    now = int(time.time())
    for name, offset in (("a day ahead", 86_400), ("just past the future bound", 150)):
        event = shop.event("checkout.session.completed", bought["checkout_session_id"], "paid")
        failure = error(
            shop.post_webhook(*shop.sign(event, timestamp=now + offset)),
            "INVALID_ARGUMENTS",
            400,
            2,
        )
        assert "future" in failure["message"], name
    stale = shop.event("checkout.session.completed", bought["checkout_session_id"], "paid")
    error(shop.post_webhook(*shop.sign(stale, timestamp=now - 150)), "INVALID_ARGUMENTS", 400, 2)
    assert shop.provider_events() == 0
    assert shop.receipts(bought["quote_id"]) == 0

    # Inside the window either way: accepted (a clock a minute fast is not an attack).
    ahead = shop.event("checkout.session.completed", bought["checkout_session_id"], "paid")
    assert shop.deliver(ahead, timestamp=now + 60)["outcome"] == "granted"
    other = shop.bought(agent, "clock-late")
    behind = shop.event("checkout.session.completed", other["checkout_session_id"], "paid")
    assert shop.deliver(behind, timestamp=now - 60)["outcome"] == "granted"


# --- events in any order ----------------------------------------------------------------------


def _session_reads(shop: Shop) -> int:
    return len([call for call in shop.fake.calls("GET") if call.path.startswith("/v1/checkout")])


def test_paid_after_expired_grants_only_when_stripe_says_paid_and_only_once(shop: Shop) -> None:
    agent = shop.signup()
    before = shop.balance(agent)

    # Expired, then a paid event Stripe's own API does not confirm: nothing is granted.
    lied = shop.bought(agent, "expired-unpaid")
    session_id = lied["checkout_session_id"]
    shop.deliver(shop.event("checkout.session.expired", session_id, "unpaid"))
    shop.fake.update_session(session_id, status="expired", payment_status="unpaid")
    result = shop.deliver(shop.event("checkout.session.completed", session_id, "paid"))
    assert result["outcome"] == "not_paid_per_stripe"
    assert _session_reads(shop) == 1
    assert shop.balance(agent) == before
    assert shop.receipts(lied["quote_id"]) == 0
    assert shop.status(agent, quote_id=lied["quote_id"])["state"] == "expired"

    # Expired, then paid, and Stripe confirms the money was taken: granted once, flagged.
    late = shop.bought(agent, "expired-paid")
    session_id = late["checkout_session_id"]
    shop.deliver(shop.event("checkout.session.expired", session_id, "unpaid"))
    shop.fake.update_session(session_id, status="complete", payment_status="paid")
    paid = shop.event("checkout.session.completed", session_id, "paid")
    assert shop.deliver(paid)["outcome"] == "granted_after_expired"
    assert shop.deliver(paid)["duplicate"] is True
    again = shop.event("checkout.session.async_payment_succeeded", session_id, "paid")
    assert shop.deliver(again)["outcome"] == "already_granted"
    assert shop.balance(agent) == before + PACK_CREDITS
    assert shop.receipts(late["quote_id"]) == 1
    assert shop.purchase_grants(late["quote_id"]) == 1
    status = shop.status(agent, payment_attempt_id=late["payment_attempt_id"])
    assert status["state"] == "succeeded"
    assert shop.activity(agent, "credits.payment_backed_granted") == 1


def test_paid_then_expired_and_paid_twice_grant_once_without_asking_stripe(shop: Shop) -> None:
    agent = shop.signup()
    before = shop.balance(agent)
    bought = shop.bought(agent, "paid-first")
    session_id = bought["checkout_session_id"]

    first = shop.event("checkout.session.completed", session_id, "paid")
    second = shop.event("checkout.session.completed", session_id, "paid")
    assert shop.deliver(first)["outcome"] == "granted"
    assert shop.deliver(second)["outcome"] == "already_granted"
    expired = shop.deliver(shop.event("checkout.session.expired", session_id, "unpaid"))
    assert expired["outcome"] == "ignored"

    assert _session_reads(shop) == 0, "an undisputed paid event needs no API call"
    assert shop.balance(agent) == before + PACK_CREDITS
    assert shop.receipts(bought["quote_id"]) == 1
    assert shop.attempt_status(bought["payment_attempt_id"]) == "succeeded"


def test_async_payment_failed_then_a_paid_claim_is_checked_with_stripe(shop: Shop) -> None:
    agent = shop.signup()
    before = shop.balance(agent)
    bought = shop.bought(agent, "async-fail")
    session_id = bought["checkout_session_id"]

    pending = shop.deliver(shop.event("checkout.session.completed", session_id, "unpaid"))
    assert pending["outcome"] == "awaiting_async_payment"
    failed = shop.event("checkout.session.async_payment_failed", session_id, "unpaid")
    assert shop.deliver(failed)["outcome"] == "failed"
    assert shop.status(agent, quote_id=bought["quote_id"])["state"] == "failed"

    shop.fake.update_session(session_id, status="complete", payment_status="unpaid")
    claim = shop.event("checkout.session.async_payment_succeeded", session_id, "paid")
    assert shop.deliver(claim)["outcome"] == "not_paid_per_stripe"
    assert shop.balance(agent) == before
    assert shop.receipts(bought["quote_id"]) == 0
    assert shop.attempt_status(bought["payment_attempt_id"]) == "failed"


def test_an_unreachable_stripe_defers_a_disputed_event_without_recording_it(shop: Shop) -> None:
    agent = shop.signup()
    bought = shop.bought(agent, "stripe-down")
    session_id = bought["checkout_session_id"]
    shop.deliver(shop.event("checkout.session.expired", session_id, "unpaid"))
    events_before = shop.provider_events()
    paid = shop.event("checkout.session.completed", session_id, "paid")
    shop.fake.fail_next(5, 500)

    failure = error(shop.post_webhook(*shop.sign(paid)), "PROVIDER_UNAVAILABLE", 503, 7)

    assert failure["retryable"] is True
    assert shop.provider_events() == events_before, "Stripe must be able to redeliver it"
    shop.fake.clear_failures()
    shop.fake.update_session(session_id, status="complete", payment_status="paid")
    assert shop.deliver(paid)["outcome"] == "granted_after_expired"
    assert shop.receipts(bought["quote_id"]) == 1


# --- credits status: no existence oracle ------------------------------------------------------


def _without_trace(response: httpx.Response) -> dict[str, Any]:
    envelope: dict[str, Any] = response.json()
    envelope.pop("trace_id")
    return envelope


def test_status_answers_the_same_not_found_for_foreign_and_missing_references(
    shops: Shops,
) -> None:
    shop = shops.make(fake_payments_enabled=True)
    owner = shop.signup("owner")
    stranger = shop.signup("stranger")
    assert owner.organization_id != stranger.organization_id
    bought = shop.bought(owner, "oracle")
    fake = ok(fake_quote(shop, owner.token, "q-oracle", credits=30))
    receipt = ok(fake_purchase(shop, owner.token, fake["quote_id"], "p-oracle"))
    missing = {
        "quote_id": "quote_01jz0000000000000000000000",
        "payment_attempt_id": "payatt_01jz0000000000000000000000",
        "checkout_session_id": "cs_test_a1NoSuchSessionAnywhere000000000000",
        "receipt_id": "receipt_01jz0000000000000000000000",
    }
    foreign = {
        "quote_id": bought["quote_id"],
        "payment_attempt_id": bought["payment_attempt_id"],
        "checkout_session_id": bought["checkout_session_id"],
        "receipt_id": receipt["receipt_id"],
    }
    for name in missing:
        answers = [
            shop.http.get(STATUS, params={name: value}, headers=stranger.headers)
            for value in (foreign[name], missing[name])
        ]
        for response in answers:
            error(response, "NOT_FOUND", 404, 1)
        assert _without_trace(answers[0]) == _without_trace(answers[1]), name
        assert answers[0].json()["error"]["details"] == {"field": name}
        # The owner still sees it.
        assert shop.status(owner, **{name: foreign[name]})["quote"]["quote_id"] in (
            bought["quote_id"],
            fake["quote_id"],
        )


@pytest.mark.parametrize(
    "name", ["quote_id", "payment_attempt_id", "checkout_session_id", "receipt_id"]
)
def test_status_references_are_shape_checked_before_any_query(shop: Shop, name: str) -> None:
    agent = shop.signup()
    prefix = {"quote_id": "quote_", "payment_attempt_id": "payatt_", "receipt_id": "receipt_"}
    bad_values = [
        prefix.get(name, "cs_") + "abc\x00def",
        prefix.get(name, "cs_") + "a" * 300,
        "job_01jz0000000000000000000000",
        prefix.get(name, "cs_") + "abc def",
        prefix.get(name, "cs_") + "abc'--",
    ]
    for value in bad_values:
        response = shop.http.get(STATUS, params={name: value}, headers=agent.headers)
        failure = error(response, "INVALID_ARGUMENTS", 400, 2)
        assert failure["details"]["field"] == name, value
        assert "\x00" not in failure["message"]


# --- strict number and boolean types ----------------------------------------------------------


def test_booleans_are_not_numbers_and_numbers_are_not_booleans(shops: Shops) -> None:
    shop = shops.make(fake_payments_enabled=True)
    agent = shop.signup()
    create = {"prompt": "a small red square", "model": "local.sketch", "dry_run": True}
    refused = {
        "max_estimated_usd_per_image": {**create, "max_estimated_usd_per_image": True},
        "max_usd": {**create, "max_usd": False},
        "dry_run": {**create, "dry_run": 1},
        "accept_unknown_cost": {**create, "accept_unknown_cost": "yes"},
    }
    for field, body in refused.items():
        response = shop.http.post("/v1/create", json=body, headers=agent.headers)
        failure = error(response, "INVALID_ARGUMENTS", 400, 2)
        assert failure["details"]["field"] == field, failure
    # Integers are still numbers where a float is expected (0.1.0 clients send either).
    for value in (1, 0.05):
        body = {**create, "max_estimated_usd_per_image": value, "max_usd": value}
        response = shop.http.post("/v1/create", json=body, headers=agent.headers)
        assert response.status_code == 200, response.text

    for value in (True, 12.0, "12"):
        body = {"credits": value, "payment_method": "fake", "idempotency_key": f"k-{value!r}"}
        response = shop.http.post("/v1/credit-quotes", json=body, headers=agent.headers)
        assert error(response, "INVALID_ARGUMENTS", 400, 2)["details"]["field"] == "credits"
    assert shop.count("credit_quotes") == 0

    schemas = shop.http.get("/openapi.json").json()["components"]["schemas"]
    budget = schemas["CreateRequest"]["properties"]["max_estimated_usd_per_image"]
    assert {"type": "number", "minimum": 0.0} in budget["anyOf"]
    assert schemas["CreateRequest"]["properties"]["dry_run"]["type"] == "boolean"
