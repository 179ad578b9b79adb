"""Stripe Checkout and webhook fulfillment, through the real app and the official SDK.

The app is pointed at ``FakeStripe`` (a local HTTP server speaking Stripe's wire
format) through ``stripe_api_base``, so every checkout session is created by the
real ``stripe`` SDK over HTTP. Webhook deliveries are signed exactly as Stripe
signs them. Runs on SQLite and PostgreSQL; the concurrency tests run against two
real ``image-skill serve`` processes sharing one database.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from image_skill.service.app import create_app
from image_skill.service.db.migrate import upgrade_to_head
from image_skill.service.settings import Settings
from tests.fakes.stripe_api import FakeStripe, checkout_event, sign_payload
from tests.support.apps import PEPPER
from tests.support.envelopes import ok
from tests.support.servers import Server, start_server, stop_server
from tests.support.stripe_shop import (
    PACK,
    PACK_CREDITS,
    SECRET_KEY,
    WEBHOOK_SECRET,
    Shop,
    error,
    recorder,
)

pytestmark = pytest.mark.usefixtures("no_ambient_payment_settings")
_UNSET: Any = object()


MakeShop = Callable[..., Shop]


@pytest.fixture
def make_shop(
    database_url: str, tmp_path: Path, fake_stripe: FakeStripe, db: Engine
) -> Iterator[MakeShop]:
    """``make_shop(stripe_secret_key=..., ...)``: a started app with the fake behind it."""
    with ExitStack() as stack:
        shops: list[Shop] = []

        def make(
            *, secret_key: Any = _UNSET, webhook_secret: Any = _UNSET, **overrides: Any
        ) -> Shop:
            settings = Settings(
                database_url=database_url,
                home=tmp_path / f"service-home-{len(shops)}",
                embedded=False,
                environment="test",
                token_pepper=PEPPER,
                stripe_secret_key=SECRET_KEY if secret_key is _UNSET else secret_key,
                stripe_webhook_secret=(
                    WEBHOOK_SECRET if webhook_secret is _UNSET else webhook_secret
                ),
                stripe_api_base=fake_stripe.url,
                **overrides,
            )
            client = stack.enter_context(TestClient(create_app(settings)))
            shop = Shop(client, fake_stripe, db)
            client.event_hooks = {"request": [], "response": [recorder(shop.response_bodies)]}
            shops.append(shop)
            return shop

        yield make
        for shop in shops:
            shop.assert_no_secrets_leaked()


@pytest.fixture
def shop(make_shop: MakeShop) -> Shop:
    return make_shop()


# --- buying: a checkout session, and nothing else --------------------------------------------


def test_buy_creates_one_checkout_session_through_the_sdk_and_grants_nothing(shop: Shop) -> None:
    agent = shop.signup()
    before = shop.balance(agent)
    quote = shop.quote(agent, "q-1")
    assert quote["live_money"] is False

    data = ok(shop.buy(agent, quote["quote_id"], "buy-1"))

    assert data["state"] == "action_required"
    assert data["quote_id"] == quote["quote_id"]
    assert data["payment_attempt_id"].startswith("payatt_")
    assert data["checkout_session_id"].startswith("cs_test_")
    session = shop.fake.session(data["checkout_session_id"])
    assert data["checkout_url"] == session["url"]
    assert data["checkout_url"].startswith("https://checkout.stripe.com/c/pay/cs_test_")
    assert data["next"]["human_action"] == "open_checkout_url"
    assert data["payment_attempt_id"] in data["next"]["after_payment"]
    assert data["live_money"] is False
    assert (data["credits"], data["amount_cents"], data["currency"]) == (500, 500, "USD")

    (create,) = shop.fake.session_creates
    assert create.status == 200
    assert create.bearer == SECRET_KEY
    assert create.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert create.idempotency_key and quote["quote_id"] in create.idempotency_key
    form = create.form
    assert form["mode"] == "payment"
    assert form["client_reference_id"] == quote["quote_id"]
    assert form["metadata[quote_id]"] == quote["quote_id"]
    assert form["metadata[credits]"] == "500"
    assert form["line_items[0][quantity]"] == "1"
    assert form["line_items[0][price_data][unit_amount]"] == "500"
    assert form["line_items[0][price_data][currency]"] == "usd"
    assert "500" in form["line_items[0][price_data][product_data][name]"]
    assert quote["quote_id"] in form["success_url"]
    assert quote["quote_id"] in form["cancel_url"]
    assert (session["amount_total"], session["currency"]) == (500, "usd")
    assert session["client_reference_id"] == quote["quote_id"]
    assert session["metadata"]["quote_id"] == quote["quote_id"]

    assert shop.balance(agent) == before
    assert shop.claim_state(agent) == "unclaimed"
    assert shop.purchase_grants(quote["quote_id"]) == 0
    assert shop.receipts(quote["quote_id"]) == 0
    assert shop.activity(agent, "payment.checkout_session.created") == 1
    assert shop.activity(agent, "credits.payment_backed_granted") == 0


def test_repeat_buy_returns_the_same_attempt_without_a_second_stripe_session(shop: Shop) -> None:
    agent = shop.signup()
    quote = shop.quote(agent, "q-repeat")
    first = ok(shop.buy(agent, quote["quote_id"], "buy-repeat"))

    again = shop.buy(agent, quote["quote_id"], "buy-repeat")
    other_key = shop.buy(agent, quote["quote_id"], "buy-other-key")

    for response in (again, other_key):
        data = ok(response)
        assert data["payment_attempt_id"] == first["payment_attempt_id"]
        assert data["checkout_session_id"] == first["checkout_session_id"]
        assert data["checkout_url"] == first["checkout_url"]
        assert data["state"] == "action_required"
        assert response.json()["warnings"], "a replay should say it is one"
    assert len(shop.fake.session_creates) == 1
    assert len(shop.fake.sessions) == 1
    assert shop.attempts(quote["quote_id"]) == 1
    assert shop.activity(agent, "payment.checkout_session.created") == 1


def test_status_while_waiting_for_payment_says_action_required(shop: Shop) -> None:
    agent = shop.signup()
    bought = shop.bought(agent, "status")
    references = {
        "payment_attempt_id": bought["payment_attempt_id"],
        "checkout_session_id": bought["checkout_session_id"],
        "quote_id": bought["quote_id"],
    }
    for name, value in references.items():
        status = shop.status(agent, **{name: value})
        assert status["state"] == "action_required", name
        assert status["reference"] == {"type": name, "id": value}
        assert status["quote"]["quote_id"] == bought["quote_id"]
        assert status["quote"]["accepted_payment_method"] == "stripe_checkout"
        assert status["quote"]["pack_id"] == PACK
        assert status["next"]["retry_after_seconds"] > 0
        assert status["next"]["human_action"] == "open_checkout_url"
        assert status["next"]["checkout_url"] == bought["checkout_url"]
        assert status["payment_attempt"]["payment_attempt_id"] == bought["payment_attempt_id"]
        assert status["payment_attempt"]["attempt_status"] == "requires_action"
        assert status["receipt"] is None and status["credit_event"] is None
    other = shop.signup("someone-else")
    response = shop.http.get(
        "/v1/credit-purchases/status",
        params={"checkout_session_id": bought["checkout_session_id"]},
        headers=other.headers,
    )
    error(response, "NOT_FOUND", 404, 1)


# --- webhook fulfillment ----------------------------------------------------------------


def test_paid_completion_grants_once_and_100_replays_change_nothing(shop: Shop) -> None:
    agent = shop.signup()
    before = shop.balance(agent)
    bought = shop.bought(agent, "paid")
    quote_id = bought["quote_id"]
    event = shop.event("checkout.session.completed", bought["checkout_session_id"], "paid")
    payload, signature = shop.sign(event)

    result = ok(shop.post_webhook(payload, signature), 200)

    assert result == {
        "received": True,
        "event_id": event["id"],
        "duplicate": False,
        "outcome": "granted",
    }
    assert shop.balance(agent) == before + PACK_CREDITS
    status = shop.status(agent, payment_attempt_id=bought["payment_attempt_id"])
    assert status["state"] == "succeeded"
    receipt = status["receipt"]
    assert receipt["receipt_id"].startswith("receipt_")
    assert receipt["quote_id"] == quote_id
    assert receipt["payment_attempt_id"] == bought["payment_attempt_id"]
    assert (receipt["credits"], receipt["amount_cents"]) == (500, 500)
    assert receipt["accepted_payment_method"] == "stripe_checkout"
    assert receipt["live_money"] is False
    assert status["credit_event"]["credit_event_id"].startswith("credit_event_")
    assert status["credit_event"]["kind"] == "purchase_grant"
    assert status["credit_event"]["credits"] == 500
    assert status["provider_event"] == {
        "event_id": event["id"],
        "type": "checkout.session.completed",
        "outcome": "granted",
    }
    assert status["payment_attempt"]["attempt_status"] == "succeeded"
    assert status["limits"]["credits"]["balance"] == before + PACK_CREDITS
    by_receipt = shop.status(agent, receipt_id=receipt["receipt_id"])
    assert by_receipt["state"] == "succeeded"
    by_session = shop.status(agent, checkout_session_id=bought["checkout_session_id"])
    assert by_session["receipt"] == receipt
    assert shop.claim_state(agent) == "payment_backed_unclaimed"
    assert shop.activity(agent, "credits.payment_backed_granted") == 1
    assert shop.activity(agent, "payment.checkout_session.created") == 1

    # Stripe redelivers: the same bytes, and the same event freshly signed.
    for round_ in range(100):
        replay = (payload, signature) if round_ % 2 == 0 else shop.sign(event)
        again = ok(shop.post_webhook(*replay), 200)
        assert again["duplicate"] is True, round_
        assert again["event_id"] == event["id"]

    assert shop.balance(agent) == before + PACK_CREDITS
    assert shop.receipts(quote_id) == 1
    assert shop.purchase_grants(quote_id) == 1
    assert shop.provider_events() == 1
    assert shop.activity(agent, "credits.payment_backed_granted") == 1
    assert shop.status(agent, quote_id=quote_id)["receipt"] == receipt
    # A paid quote cannot be bought again: its attempt is returned, no new session.
    repeat = ok(shop.buy(agent, quote_id, "buy-after-paid"))
    assert repeat["payment_attempt_id"] == bought["payment_attempt_id"]
    assert repeat["state"] == "succeeded"
    assert repeat["next"]["human_action"] is None, "a paid session is not worth a visit"
    assert len(shop.fake.session_creates) == 1


_ASYNC_FLOW = (
    ("checkout.session.completed", "unpaid"),
    ("checkout.session.async_payment_succeeded", "paid"),
    ("checkout.session.completed", "paid"),
)


def test_every_arrival_order_of_the_fulfilling_events_grants_exactly_once(shop: Shop) -> None:
    agent = shop.signup()
    balance = shop.balance(agent)
    orders = list(itertools.permutations(range(len(_ASYNC_FLOW))))
    assert len(orders) == 6
    for number, order in enumerate(orders):
        bought = shop.bought(agent, f"order-{number}")
        paid_yet = False
        for step, index in enumerate(order):
            event_type, payment_status = _ASYNC_FLOW[index]
            event = shop.event(
                event_type,
                bought["checkout_session_id"],
                payment_status,
                f"evt_order{number}_step{step}_{index}",
            )
            result = shop.deliver(event)
            assert result["duplicate"] is False
            if payment_status == "paid":
                assert result["outcome"] == ("already_granted" if paid_yet else "granted")
                paid_yet = True
            else:
                assert result["outcome"] == "awaiting_async_payment"
            expected = balance + (PACK_CREDITS if paid_yet else 0)
            assert shop.balance(agent) == expected, (order, step)
            state = shop.status(agent, payment_attempt_id=bought["payment_attempt_id"])["state"]
            assert state == ("succeeded" if paid_yet else "processing"), (order, step)
        balance += PACK_CREDITS
        assert shop.receipts(bought["quote_id"]) == 1, order
        assert shop.purchase_grants(bought["quote_id"]) == 1, order
        assert shop.attempt_status(bought["payment_attempt_id"]) == "succeeded", order
    assert shop.activity(agent, "credits.payment_backed_granted") == len(orders)
    assert shop.provider_events() == len(orders) * len(_ASYNC_FLOW)


def test_unpaid_completion_alone_grants_nothing_and_leaves_the_attempt_processing(
    shop: Shop,
) -> None:
    agent = shop.signup()
    before = shop.balance(agent)
    bought = shop.bought(agent, "unpaid")
    event = shop.event("checkout.session.completed", bought["checkout_session_id"], "unpaid")

    result = shop.deliver(event)

    assert result["outcome"] == "awaiting_async_payment"
    status = shop.status(agent, checkout_session_id=bought["checkout_session_id"])
    assert status["state"] == "processing"
    assert status["payment_attempt"]["attempt_status"] == "processing"
    assert status["next"]["retry_after_seconds"] > 0
    assert status["receipt"] is None
    assert shop.balance(agent) == before
    assert shop.claim_state(agent) == "unclaimed"
    assert shop.purchase_grants(bought["quote_id"]) == 0
    assert shop.activity(agent, "credits.payment_backed_granted") == 0

    failed = shop.event(
        "checkout.session.async_payment_failed", bought["checkout_session_id"], "unpaid"
    )
    assert shop.deliver(failed)["outcome"] == "failed"
    assert shop.status(agent, quote_id=bought["quote_id"])["state"] == "failed"
    assert shop.balance(agent) == before
    assert shop.receipts(bought["quote_id"]) == 0


def test_expired_session_grants_nothing_and_a_late_failure_cannot_undo_a_grant(
    shop: Shop,
) -> None:
    agent = shop.signup()
    before = shop.balance(agent)
    expired = shop.bought(agent, "expires")
    result = shop.deliver(
        shop.event("checkout.session.expired", expired["checkout_session_id"], "unpaid")
    )
    assert result["outcome"] == "expired"
    assert shop.status(agent, payment_attempt_id=expired["payment_attempt_id"])["state"] == (
        "expired"
    )
    assert shop.balance(agent) == before
    replay = ok(shop.buy(agent, expired["quote_id"], "buy-expires"))
    assert replay["state"] == "expired"
    assert replay["next"]["human_action"] is None, "an expired session is a dead link"

    paid = shop.bought(agent, "paid-then-noise")
    shop.deliver(shop.event("checkout.session.completed", paid["checkout_session_id"], "paid"))
    for event_type in ("checkout.session.async_payment_failed", "checkout.session.expired"):
        late = shop.deliver(shop.event(event_type, paid["checkout_session_id"], "unpaid"))
        assert late["outcome"] == "ignored", event_type
    assert shop.attempt_status(paid["payment_attempt_id"]) == "succeeded"
    assert shop.status(agent, quote_id=paid["quote_id"])["state"] == "succeeded"
    assert shop.balance(agent) == before + PACK_CREDITS


def test_events_for_unknown_sessions_or_other_objects_are_recorded_but_grant_nothing(
    shop: Shop,
) -> None:
    agent = shop.signup()
    before = shop.balance(agent)
    bought = shop.bought(agent, "known")
    unknown = checkout_event(
        "checkout.session.completed", "cs_test_NotCreatedByThisService", "paid", "evt_unknown"
    )
    assert shop.deliver(unknown)["outcome"] == "unknown_checkout_session"
    other_object = {
        "id": "evt_payment_intent",
        "object": "event",
        "type": "payment_intent.succeeded",
        "created": int(time.time()),
        "data": {
            "object": {
                "id": "pi_123",
                "object": "payment_intent",
                "status": "succeeded",
                "metadata": {"quote_id": bought["quote_id"]},
            }
        },
    }
    assert shop.deliver(other_object)["outcome"] == "ignored"
    assert shop.provider_events() == 2
    assert shop.balance(agent) == before
    assert shop.receipts(bought["quote_id"]) == 0
    assert shop.attempt_status(bought["payment_attempt_id"]) == "requires_action"


# --- webhook authenticity ------------------------------------------------------------------


def test_unverifiable_deliveries_are_refused_and_record_nothing(shop: Shop) -> None:
    agent = shop.signup()
    before = shop.balance(agent)
    bought = shop.bought(agent, "forged")
    session_id = bought["checkout_session_id"]
    event = shop.event("checkout.session.completed", session_id, "paid", "evt_forgery_target")
    payload, good = shop.sign(event)
    now = int(time.time())
    unpaid_payload, unpaid_signature = shop.sign(
        shop.event("checkout.session.completed", session_id, "unpaid", "evt_forgery_target")
    )
    stale_ts = now - 301
    attempts: dict[str, tuple[bytes, str | None]] = {
        "missing header": (payload, None),
        "empty header": (payload, ""),
        "garbage header": (payload, "not-a-signature"),
        "no v1 scheme": (payload, f"t={now},v0={sign_payload(WEBHOOK_SECRET, payload, now)}"),
        "no timestamp": (payload, f"v1={sign_payload(WEBHOOK_SECRET, payload, now)}"),
        "wrong secret": shop.sign(event, secret="whsec_test_SomeoneElsesEndpointSecret"),
        "bad hex": (payload, f"t={now},v1={'0' * 64}"),
        "stale timestamp": shop.sign(event, timestamp=stale_ts),
        "re-dated signature": (payload, _redate(good)),
        "body flipped to paid": (unpaid_payload.replace(b'"unpaid"', b'"paid"'), unpaid_signature),
        "extra whitespace": (payload + b" ", good),
    }
    for name, (body, signature) in attempts.items():
        response = shop.post_webhook(body, signature)
        failure = error(response, "INVALID_ARGUMENTS", 400, 2)
        assert "evt_forgery_target" not in failure["message"], name
        assert shop.provider_events() == 0, name
    # Correctly signed bodies that are not Stripe events are refused, not a crash.
    for body in (
        b"this is not json",
        b"\xff\xfe not utf-8",
        b"[]",
        b"null",
        b'{"id": "evt_odd", "type": "checkout.session.completed", "data": "x"}',
        b'{"id": "evt_odd", "type": "checkout.session.completed", "data": {"object": "x"}}',
    ):
        ts = int(time.time())
        response = shop.post_webhook(body, f"t={ts},v1={sign_payload(WEBHOOK_SECRET, body, ts)}")
        error(response, "INVALID_ARGUMENTS", 400, 2)

    assert shop.provider_events() == 0
    assert shop.balance(agent) == before
    assert shop.receipts(bought["quote_id"]) == 0
    assert shop.attempt_status(bought["payment_attempt_id"]) == "requires_action"
    assert shop.activity(agent, "credits.payment_backed_granted") == 0

    # The same event, signed within the 300 s window, is accepted: it was never stored.
    late_but_valid = shop.deliver(event, timestamp=int(time.time()) - 240)
    assert late_but_valid == {
        "received": True,
        "event_id": "evt_forgery_target",
        "duplicate": False,
        "outcome": "granted",
    }
    assert shop.balance(agent) == before + PACK_CREDITS


def _redate(signature: str) -> str:
    """A genuine v1 signature presented with a newer timestamp (a replay-window dodge)."""
    parts = dict(part.split("=", 1) for part in signature.split(","))
    return f"t={int(parts['t']) + 60},v1={parts['v1']}"


def test_webhook_without_a_configured_secret_is_refused(make_shop: MakeShop) -> None:
    shop = make_shop(webhook_secret=None)
    agent = shop.signup()
    bought = shop.bought(agent, "no-secret")
    event = shop.event("checkout.session.completed", bought["checkout_session_id"], "paid")
    for signature in (shop.sign(event)[1], None):
        response = shop.post_webhook(shop.payloads[-1], signature)
        failure = error(response, "PAYMENT_PROVIDER_NOT_CONFIGURED", 403, 4)
        assert "IMAGE_SKILL_STRIPE_WEBHOOK_SECRET" in failure["message"]
    assert shop.provider_events() == 0
    assert shop.receipts(bought["quote_id"]) == 0


# --- Stripe failures and refusals ----------------------------------------------------------


def test_stripe_500s_fail_the_buy_after_bounded_retries_and_leave_nothing_behind(
    shop: Shop,
) -> None:
    agent = shop.signup()
    quote = shop.quote(agent, "q-500")
    shop.fake.fail_next(5, 500)

    response = shop.buy(agent, quote["quote_id"], "buy-500")

    failure = error(response, "PROVIDER_FAILED", 502, 7)
    assert "sk_test" not in failure["message"]
    calls = shop.fake.session_creates
    assert 1 <= len(calls) <= 3, "the SDK must retry a bounded number of times"
    assert all(call.status == 500 for call in calls)
    assert len({call.idempotency_key for call in calls}) == 1, "retries must reuse the key"
    assert shop.attempts(quote["quote_id"]) == 0
    assert shop.activity(agent, "payment.checkout_session.created") == 0
    status = shop.status(agent, quote_id=quote["quote_id"])
    assert status["state"] == "quoted" and status["payment_attempt"] is None

    # Once Stripe recovers, the same buy succeeds with one session.
    shop.fake.clear_failures()
    data = ok(shop.buy(agent, quote["quote_id"], "buy-500"))
    assert data["state"] == "action_required"
    assert len(shop.fake.sessions) == 1
    assert shop.attempts(quote["quote_id"]) == 1


def test_a_transient_stripe_500_is_retried_with_the_same_idempotency_key(shop: Shop) -> None:
    agent = shop.signup()
    quote = shop.quote(agent, "q-blip")
    shop.fake.fail_next(1, 500)

    data = ok(shop.buy(agent, quote["quote_id"], "buy-blip"))

    first, second = shop.fake.session_creates
    assert (first.status, second.status) == (500, 200)
    assert first.idempotency_key == second.idempotency_key
    assert first.form == second.form
    assert list(shop.fake.sessions) == [data["checkout_session_id"]]


def test_stripe_rate_limit_is_a_retryable_provider_refusal(shop: Shop) -> None:
    agent = shop.signup()
    quote = shop.quote(agent, "q-429")
    shop.fake.fail_next(1, 429)

    failure = error(shop.buy(agent, quote["quote_id"], "buy-429"), "PROVIDER_UNAVAILABLE", 503, 7)

    assert failure["retryable"] is True
    assert failure["recovery"]["retry_after_seconds"] > 0
    assert len(shop.fake.session_creates) == 1
    assert shop.attempts(quote["quote_id"]) == 0


def test_a_key_stripe_rejects_means_not_configured(shop: Shop) -> None:
    agent = shop.signup()
    quote = shop.quote(agent, "q-401")
    shop.fake.api_key = "sk_test_TheKeyStripeActuallyHasForThisAccount"

    failure = error(
        shop.buy(agent, quote["quote_id"], "buy-401"), "PAYMENT_PROVIDER_NOT_CONFIGURED", 403, 4
    )

    assert SECRET_KEY not in failure["message"]
    (call,) = shop.fake.session_creates
    assert call.status == 401 and call.bearer == SECRET_KEY
    assert shop.attempts(quote["quote_id"]) == 0
    assert shop.activity(agent, "payment.checkout_session.created") == 0


def test_a_slow_stripe_still_yields_one_session(shop: Shop) -> None:
    agent = shop.signup()
    quote = shop.quote(agent, "q-slow")
    shop.fake.slow_next(1, 0.5)
    started = time.monotonic()

    data = ok(shop.buy(agent, quote["quote_id"], "buy-slow"))

    assert time.monotonic() - started >= 0.5
    assert shop.fake.session_creates[0].injected == "slow:0.5"
    assert list(shop.fake.sessions) == [data["checkout_session_id"]]


def test_buy_leaves_no_connection_to_stripe_open(shop: Shop) -> None:
    agent = shop.signup()
    for number in range(4):
        shop.bought(agent, f"sockets-{number}")
    assert shop.fake.connections_accepted >= 1
    deadline = time.monotonic() + 3
    while shop.fake.open_connections and time.monotonic() < deadline:
        time.sleep(0.05)
    assert shop.fake.open_connections == 0, "the SDK's HTTP client was not closed"


def test_buy_refuses_fake_rail_quotes_and_missing_keys_without_calling_stripe(
    make_shop: MakeShop,
) -> None:
    shop = make_shop(fake_payments_enabled=True)
    agent = shop.signup()
    fake_quote = shop.quote(agent, "q-fake", method="fake")
    failure = error(
        shop.buy(agent, fake_quote["quote_id"], "buy-fake"), "INVALID_ARGUMENTS", 400, 2
    )
    assert "stripe_checkout" in failure["message"]

    stripe_quote = shop.quote(agent, "q-nokey")
    error(shop.buy(agent, stripe_quote["quote_id"], None), "INVALID_ARGUMENTS", 400, 2)
    error(shop.buy(agent, "quote_doesnotexist", "buy-missing"), "NOT_FOUND", 404, 1)
    stranger = shop.signup("stranger")
    error(shop.buy(stranger, stripe_quote["quote_id"], "buy-stranger"), "NOT_FOUND", 404, 1)

    assert shop.fake.requests == []
    assert shop.count("payment_attempts") == 0


def test_buy_without_a_stripe_key_is_not_configured(make_shop: MakeShop) -> None:
    shop = make_shop(secret_key=None)
    agent = shop.signup()
    quote = shop.quote(agent, "q-unconfigured")

    failure = error(
        shop.buy(agent, quote["quote_id"], "buy-unconfigured"),
        "PAYMENT_PROVIDER_NOT_CONFIGURED",
        403,
        4,
    )

    assert "IMAGE_SKILL_STRIPE_SECRET_KEY" in failure["message"]
    assert shop.fake.requests == []
    assert shop.attempts(quote["quote_id"]) == 0


def test_stripe_checkout_quotes_below_the_stripe_minimum_are_refused(shop: Shop) -> None:
    agent = shop.signup()
    error(shop.quote_response(agent, "q-min", credits=10), "INVALID_ARGUMENTS", 400, 2)


# --- concurrency against real servers ------------------------------------------------------


@pytest.fixture
def servers(
    database_url: str, tmp_path: Path, fake_stripe: FakeStripe, db: Engine
) -> Iterator[tuple[Shop, Shop, list[Server]]]:
    """Two ``image-skill serve`` processes on one database, both wired to the fake."""
    env = {
        "IMAGE_SKILL_STRIPE_SECRET_KEY": SECRET_KEY,
        "IMAGE_SKILL_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "IMAGE_SKILL_STRIPE_API_BASE": fake_stripe.url,
    }
    running: list[Server] = []
    clients: list[httpx.Client] = []
    # Migrate once here, so both processes can start at the same time.
    upgrade_to_head(Settings(database_url=database_url, home=tmp_path / "migrate-home"))
    workdirs = [tmp_path / "server-a", tmp_path / "server-b"]
    for workdir in workdirs:
        workdir.mkdir()
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            starting = [
                pool.submit(start_server, database_url, workdir, extra_env=env)
                for workdir in workdirs
            ]
            failures = []
            for future in starting:
                try:
                    running.append(future.result())
                except Exception as exc:
                    failures.append(exc)
        if failures:
            raise failures[0]
        shops = []
        for server in running:
            client = httpx.Client(base_url=server.base_url, timeout=60)
            clients.append(client)
            shop = Shop(client, fake_stripe, db)
            client.event_hooks = {"request": [], "response": [recorder(shop.response_bodies)]}
            shops.append(shop)
        yield shops[0], shops[1], running
        for shop in shops:
            shop.payloads = shops[0].payloads + shops[1].payloads
            shop.assert_no_secrets_leaked()
    finally:
        for client in clients:
            client.close()
        for server in running:
            stop_server(server)
    for server in running:
        log = server.log()
        assert SECRET_KEY not in log and WEBHOOK_SECRET not in log


def _together(count: int, action: Callable[[int], httpx.Response]) -> list[httpx.Response]:
    """Run ``action(i)`` for ``i < count`` on ``count`` threads released at once."""
    barrier = threading.Barrier(count)

    def run(index: int) -> httpx.Response:
        barrier.wait(timeout=30)
        return action(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


SQLITE_STALL = (
    "known bug outside the payment code: on SQLite a `serve` process can stall for the 30 s "
    "busy timeout under concurrent writes (the event loop thread blocks in sqlite3_reset while "
    "garbage-collecting a cursor whose connection is busy-waiting in BEGIN IMMEDIATE in its "
    "aiosqlite thread); the stalled requests answer 500 INTERNAL_ERROR"
)


class Redeliverer:
    """Retries 500 answers the way their senders do (Stripe redelivers, agents retry)."""

    def __init__(self) -> None:
        self.stalls = 0

    def settle(
        self,
        responses: list[httpx.Response],
        resend: Callable[[int], httpx.Response],
        status: int,
    ) -> list[dict[str, Any]]:
        results = []
        for index, response in enumerate(responses):
            for _ in range(3):
                if response.status_code < 500:
                    break
                self.stalls += 1
                error(response, "INTERNAL_ERROR", 500, 1)
                response = resend(index)
            results.append(ok(response, status))
        return results


def test_two_servers_racing_buys_and_webhook_storms_stay_exactly_once(
    servers: tuple[Shop, Shop, list[Server]], database_url: str
) -> None:
    """Both processes race on one database: one attempt, one session, one grant per quote."""
    first, second, _ = servers
    shops = (first, second)
    retry = Redeliverer()
    agent = first.signup()
    before = first.balance(agent)

    # Four concurrent buys of one quote while Stripe is slow.
    quote = first.quote(agent, "q-race")
    first.fake.slow_next(1, 0.6)

    def buy(index: int) -> httpx.Response:
        return shops[index % 2].buy(agent, quote["quote_id"], f"buy-race-{index % 2}")

    results = retry.settle(_together(4, buy), buy, 201)
    assert len({r["payment_attempt_id"] for r in results}) == 1
    assert len({r["checkout_session_id"] for r in results}) == 1
    assert all(r["next"]["human_action"] == "open_checkout_url" for r in results)
    assert len(first.fake.sessions) == 1
    assert len({call.idempotency_key for call in first.fake.session_creates}) == 1
    assert first.attempts(quote["quote_id"]) == 1
    assert first.activity(agent, "payment.checkout_session.created") == 1
    bought = results[0]

    # 20 deliveries of one event, split over the two processes.
    event = first.event("checkout.session.completed", bought["checkout_session_id"], "paid")
    payload, signature = first.sign(event)

    def deliver(index: int) -> httpx.Response:
        return shops[index % 2].post_webhook(payload, signature)

    outcomes = retry.settle(_together(20, deliver), deliver, 200)
    assert [r["outcome"] for r in outcomes if not r["duplicate"]] == ["granted"]
    assert all(r["event_id"] == event["id"] for r in outcomes)
    assert first.balance(agent) == before + PACK_CREDITS
    assert second.balance(agent) == before + PACK_CREDITS
    assert first.receipts(quote["quote_id"]) == 1
    assert first.purchase_grants(quote["quote_id"]) == 1
    assert first.provider_events() == 1
    assert first.activity(agent, "credits.payment_backed_granted") == 1

    # Distinct events for another session, racing each other (21 deliveries, 6 ids).
    mixed = first.bought(agent, "mixed")
    deliveries = []
    for copy_number in range(7):
        for event_type, payment_status in _ASYNC_FLOW:
            name = event_type.rsplit(".", 1)[1]
            mixed_event = first.event(
                event_type,
                mixed["checkout_session_id"],
                payment_status,
                f"evt_mixed_{name}_{payment_status}_{copy_number % 2}",
            )
            deliveries.append(first.sign(mixed_event))

    def deliver_mixed(index: int) -> httpx.Response:
        return shops[index % 2].post_webhook(*deliveries[index])

    outcomes = retry.settle(_together(len(deliveries), deliver_mixed), deliver_mixed, 200)
    assert sum(r.get("outcome") == "granted" for r in outcomes) == 1
    assert first.balance(agent) == before + 2 * PACK_CREDITS
    assert first.receipts(mixed["quote_id"]) == 1
    assert first.purchase_grants(mixed["quote_id"]) == 1
    assert first.provider_events() == 1 + 6
    assert first.activity(agent, "credits.payment_backed_granted") == 2
    assert first.status(agent, quote_id=mixed["quote_id"])["state"] == "succeeded"
    assert second.claim_state(agent) == "payment_backed_unclaimed"

    if retry.stalls:
        assert database_url.startswith("sqlite"), f"{retry.stalls} requests failed"
        pytest.xfail(f"{retry.stalls} requests stalled: {SQLITE_STALL}")
