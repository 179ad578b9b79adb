"""Signed completion webhooks through the real app, a real database and a real receiver.

The receiver is a loopback HTTP server; every signature is checked with the
``standardwebhooks`` package, as a customer's receiver would check it. The app's
webhook enqueues are recorded (``tests.support.recording_queue``) and each
attempt is run by the test, so retries need no 30 s wait.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import httpx
import pytest
from standardwebhooks.webhooks import WebhookVerificationError

from image_skill.service.webhooks.delivery import post_to_first_reachable
from image_skill.service.webhooks.service import requeue_overdue
from image_skill.service.webhooks.targets import Target
from tests.fakes.webhook_receiver import Receiver, webhook_receiver
from tests.support.agents import Agent, sign_up
from tests.support.webhooks import HookedApp, hooked_app

PROMPT = "a lighthouse that must never appear in a webhook"


@pytest.fixture
def app(database_url: str, tmp_path: Path, counting_plugin: ModuleType) -> Iterator[HookedApp]:
    with hooked_app(database_url, tmp_path / "home") as hooked:
        yield hooked


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as running:
        yield running


def ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def refused(response: Any, code: str, status: int, exit_code: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["x-image-skill-exit-code"] == str(exit_code)
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code, error
    return error


def new_secret(agent: Agent) -> str:
    data = ok(agent.post("/v1/webhooks/secret", {}), 201)
    secret: str = data["signing_secret"]
    assert secret.startswith("whsec_")
    return secret


def delivery_row(app: HookedApp, delivery_id: str) -> Any:
    (row,) = app.sql(
        "SELECT status, attempts, last_status_code, last_error, next_attempt_at"
        " FROM webhook_deliveries WHERE id = :id",
        id=delivery_id,
    )
    return row


def test_a_completed_job_is_delivered_signed_without_its_prompt(
    app: HookedApp, receiver: Receiver
) -> None:
    agent = app.claimed_agent()
    secret = new_secret(agent)
    job = ok(agent.create(prompt=PROMPT, webhook_url=receiver.url), 201)
    (delivery_id,) = app.deliveries()
    assert receiver.received == []  # nothing is sent before the queue runs the delivery

    app.attempt(delivery_id)

    (got,) = receiver.received
    assert got.path == "/hooks/image-skill"
    assert got.headers["webhook-id"] == delivery_id
    assert got.headers["content-type"] == "application/json"
    payload = got.verified(secret)
    assert payload["type"] == "job.completed"
    sent_job = payload["data"]["job"]
    assert sent_job["job_id"] == job["job_id"] and sent_job["status"] == "completed"
    sent_assets = [asset["asset_id"] for asset in sent_job["assets"]]
    assert sent_assets == [asset["asset_id"] for asset in job["assets"]] and sent_assets
    for asset in sent_job["assets"]:
        assert asset["url"].startswith("https://images.example.test/a/") and "?sig=" in asset["url"]
    assert PROMPT not in got.body.decode() and "path" not in sent_job["assets"][0]

    listed = ok(agent.get("/v1/webhooks/deliveries"))["deliveries"]
    assert [(d["delivery_id"], d["status"], d["attempts"]) for d in listed] == [
        (delivery_id, "delivered", 1)
    ]
    assert listed[0]["last_status_code"] == 200 and listed[0]["delivered_at"]
    # Delivered means done: running it again sends nothing.
    app.attempt(delivery_id)
    assert len(receiver.received) == 1


def test_a_receiver_error_is_retried_later_with_the_same_webhook_id(
    app: HookedApp, receiver: Receiver
) -> None:
    agent = app.claimed_agent()
    secret = new_secret(agent)
    ok(agent.create(webhook_url=receiver.url), 201)
    (delivery_id,) = app.deliveries()
    receiver.answer_next(500)

    before = datetime.now(UTC)
    app.attempt(delivery_id)
    row = delivery_row(app, delivery_id)
    assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, 500)
    assert row.last_error == "HTTP 500"
    # The retry is enqueued in the same transaction, about 30 s out (with jitter).
    (first, (retried, not_before)) = app.queue.webhooks
    assert first[0] == retried == delivery_id
    assert timedelta(seconds=26) <= not_before - before <= timedelta(seconds=34)

    app.attempt(delivery_id)  # early: not due yet, nothing is sent
    assert len(receiver.received) == 1

    app.sql("UPDATE webhook_deliveries SET next_attempt_at = :now", now=datetime.now(UTC))
    app.attempt(delivery_id)
    assert delivery_row(app, delivery_id).status == "delivered"
    first_try, second_try = receiver.received
    assert first_try.headers["webhook-id"] == second_try.headers["webhook-id"] == delivery_id
    assert first_try.body == second_try.body
    assert first_try.verified(secret) == second_try.verified(secret)


def test_failed_jobs_and_the_default_url(app: HookedApp, receiver: Receiver) -> None:
    agent = app.claimed_agent()
    set_default = ok(
        agent.client.put("/v1/webhooks", json={"default_url": receiver.url}, headers=agent.headers)
    )
    secret = set_default["signing_secret"]  # the first default URL makes the secret
    assert secret.startswith("whsec_") and set_default["webhooks"]["default_url"] == receiver.url
    failing = {"model": "test.failing", "model_parameters": {"mode": "provider_failed"}}
    refused(agent.create(**failing), "PROVIDER_FAILED", 502, 7)
    (delivery_id,) = app.deliveries()
    app.attempt(delivery_id)
    payload = receiver.received[0].verified(secret)
    assert payload["type"] == "job.failed"
    assert payload["data"]["job"]["error"]["code"] == "PROVIDER_FAILED"

    # A job's own URL wins over the default; clearing the default stops the rest.
    with webhook_receiver("/own") as own:
        ok(agent.create(webhook_url=own.url), 201)
        app.attempt(app.deliveries()[-1])
        assert len(own.received) == 1 and len(receiver.received) == 1
    cleared = ok(
        agent.client.put("/v1/webhooks", json={"default_url": None}, headers=agent.headers)
    )
    assert cleared["webhooks"]["default_url"] is None and cleared["signing_secret"] is None
    ok(agent.create(), 201)
    assert len(app.deliveries()) == 2


def test_the_secret_is_shown_once_and_rotation_changes_signatures(
    app: HookedApp, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="image_skill")
    agent = app.claimed_agent()
    nothing_yet = ok(agent.get("/v1/webhooks"))["webhooks"]
    assert nothing_yet["signing_secret"] == {"exists": False, "created_at": None}
    # No URL is accepted before there is a secret to verify its webhooks with.
    error = refused(agent.create(webhook_url=receiver.url), "CONFLICT", 409, 1)
    assert error["recovery"]["suggested_command"] == "image-skill webhooks rotate-secret --json"

    rotated = agent.post("/v1/webhooks/secret", {})
    first = rotated.json()["data"]["signing_secret"]
    assert rotated.json()["warnings"], "the answer says the secret is shown only now"
    shown = agent.get("/v1/webhooks")
    assert first not in shown.text and ok(shown)["webhooks"]["signing_secret"]["exists"] is True
    second = new_secret(agent)
    assert second != first

    ok(agent.create(webhook_url=receiver.url), 201)
    app.attempt(app.deliveries()[-1])
    (got,) = receiver.received
    got.verified(second)
    with pytest.raises(WebhookVerificationError):
        got.verified(first)

    # Stored encrypted; never in logs, activity, or the delivery log.
    (stored,) = app.sql(
        "SELECT secret_ciphertext FROM webhook_endpoints WHERE organization_id = :org",
        org=agent.organization_id,
    )
    bare = second.removeprefix("whsec_")
    assert bare not in stored.secret_ciphertext and stored.secret_ciphertext.startswith("gAAAA")
    seen = [
        caplog.text,
        agent.get("/v1/activity").text,
        agent.get("/v1/webhooks/deliveries").text,
        json.dumps(app.sql("SELECT payload, last_error FROM webhook_deliveries")[0][0]),
    ]
    for text in seen:
        assert bare not in text and bare[:16] not in text
        assert first.removeprefix("whsec_")[:16] not in text


def test_unclaimed_agents_may_not_use_webhooks(app: HookedApp, receiver: Receiver) -> None:
    agent = sign_up(app.client, "free@example.com", "free")
    for response in (
        agent.create(webhook_url=receiver.url),
        agent.create(webhook_url=receiver.url, dry_run=True),
        agent.post("/v1/webhooks/secret", {}),
        agent.client.put("/v1/webhooks", json={"default_url": receiver.url}, headers=agent.headers),
    ):
        error = refused(response, "CLAIM_REQUIRED", 403, 4)
        assert error["recovery"]["suggested_command"] == "image-skill claim request --json"
    assert app.deliveries() == [] and receiver.received == []
    # Reading is fine (there is nothing to read).
    assert ok(agent.get("/v1/webhooks/deliveries"))["deliveries"] == []


def test_deliveries_are_listed_newest_first_a_page_at_a_time(
    app: HookedApp, receiver: Receiver
) -> None:
    agent = app.claimed_agent()
    new_secret(agent)
    jobs = [ok(agent.create(webhook_url=receiver.url), 201)["job_id"] for _ in range(3)]
    first = ok(agent.get("/v1/webhooks/deliveries", params={"limit": 2}))
    second = ok(
        agent.get("/v1/webhooks/deliveries", params={"limit": 2, "cursor": first["next_cursor"]})
    )
    listed = first["deliveries"] + second["deliveries"]
    assert [d["job_id"] for d in listed] == jobs[::-1]
    assert second["next_cursor"] is None
    assert {d["status"] for d in listed} == {"pending"} and {d["event_type"] for d in listed} == {
        "job.completed"
    }
    # Another organization sees none of them.
    other = app.claimed_agent("other")
    assert ok(other.get("/v1/webhooks/deliveries"))["deliveries"] == []
    bad = agent.get("/v1/webhooks/deliveries", params={"cursor": "evt_nope"})
    assert refused(bad, "INVALID_ARGUMENTS", 400, 2)["details"]["field"] == "cursor"


def test_private_and_loopback_targets_are_refused_by_default(
    database_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    with hooked_app(database_url, tmp_path / "home", webhook_allow_private_targets=False) as app:
        agent = app.claimed_agent()
        new_secret(agent)
        port = receiver.url.split(":")[2].split("/")[0]
        for url in (
            receiver.url,  # plain http to loopback
            f"https://127.0.0.1:{port}/hook",
            f"https://localhost:{port}/hook",
            f"https://[::ffff:127.0.0.1]:{port}/hook",
            "https://169.254.169.254/latest/meta-data/",
            "https://10.0.0.7/hook",
            "https://user:secret@example.com/hook",
        ):
            error = refused(agent.create(webhook_url=url), "WEBHOOK_TARGET_REFUSED", 400, 2)
            assert error["details"] == {"field": "webhook_url"} and url not in error["message"]
            put = agent.client.put("/v1/webhooks", json={"default_url": url}, headers=agent.headers)
            assert refused(put, "WEBHOOK_TARGET_REFUSED", 400, 2)["details"] == {
                "field": "default_url"
            }
        assert app.deliveries() == [] and receiver.received == []


def test_the_target_is_checked_again_before_every_attempt(
    app: HookedApp, receiver: Receiver
) -> None:
    agent = app.claimed_agent()
    new_secret(agent)
    ok(agent.create(webhook_url=receiver.url), 201)  # accepted while loopback is allowed
    (delivery_id,) = app.deliveries()
    app.runtime.settings.webhook_allow_private_targets = False  # as if DNS now said 127.0.0.1
    app.attempt(delivery_id)
    assert receiver.received == []
    row = delivery_row(app, delivery_id)
    assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, None)
    # The rules of acceptance hold at delivery (here the first to fail: loopback means http).
    assert row.last_error == "This webhook URL is refused: it must be an https:// URL."


def test_embedded_mode_refuses_webhooks_nothing_would_deliver_them(
    database_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    with hooked_app(database_url, tmp_path / "home", embedded=True) as app:
        agent = app.claimed_agent()
        for response in (
            agent.post("/v1/webhooks/secret", {}),
            agent.create(webhook_url=receiver.url),
        ):
            error = refused(response, "CAPABILITY_DENIED", 403, 4)
            assert "image-skill serve" in error["recovery"]["suggested_command"]


def test_a_delivery_whose_queue_entry_was_lost_is_handed_over_again(
    app: HookedApp, receiver: Receiver
) -> None:
    agent = app.claimed_agent()
    new_secret(agent)
    ok(agent.create(webhook_url=receiver.url), 201)
    (delivery_id,) = app.deliveries()
    portal = app.client.portal
    assert portal is not None
    # Due a minute ago: its entry may still be on its way; nothing is handed over.
    app.sql("UPDATE webhook_deliveries SET next_attempt_at = :at", at=ago(minutes=1))
    assert portal.call(requeue_overdue, app.runtime) == 0
    # Overdue by more than the grace (a worker died holding it): handed over once, due now.
    app.sql("UPDATE webhook_deliveries SET next_attempt_at = :at", at=ago(minutes=6))
    assert portal.call(requeue_overdue, app.runtime) == 1
    assert portal.call(requeue_overdue, app.runtime) == 0
    assert app.deliveries() == [delivery_id, delivery_id]
    app.attempt(delivery_id)
    assert delivery_row(app, delivery_id).status == "delivered" and len(receiver.received) == 1


def ago(*, minutes: int) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


def test_the_attempt_connects_to_the_checked_address_under_the_url_host_name(
    app: HookedApp, receiver: Receiver
) -> None:
    agent = app.claimed_agent()
    secret = new_secret(agent)
    by_name = receiver.url.replace("127.0.0.1", "localhost")
    ok(agent.create(webhook_url=by_name), 201)
    app.attempt(app.deliveries()[0])
    (got,) = receiver.received
    # Connected to the address resolved and checked just before; the Host is still the name.
    assert got.headers["host"] == by_name.split("/")[2]
    assert got.verified(secret)["type"] == "job.completed"


def test_an_address_that_refuses_the_connection_gives_way_to_the_next(
    receiver: Receiver,
) -> None:
    port = int(receiver.url.split(":")[2].split("/")[0])
    # The receiver listens on 127.0.0.1 only: ::1 refuses (or is unreachable), 127.0.0.1 answers.
    target = Target(receiver.url, "http", "localhost", port, "/hook", ("::1", "127.0.0.1"))

    async def post() -> int:
        async with httpx.AsyncClient(trust_env=False) as client:
            response = await post_to_first_reachable(client, target, b"{}", {"webhook-id": "x"})
            return response.status_code

    assert anyio.run(post) == 200
    (got,) = receiver.received
    assert got.path == "/hook" and got.headers["host"] == f"localhost:{port}"


def test_a_canceled_job_is_announced_too(app: HookedApp, receiver: Receiver) -> None:
    agent = app.claimed_agent()
    secret = new_secret(agent)
    slow = {"model": "test.failing", "model_parameters": {"mode": "slow"}}
    headers = {**agent.headers, "Prefer": "respond-async"}
    body = {"prompt": "a slow harbour", "webhook_url": receiver.url, **slow}
    job_id = ok(agent.client.post("/v1/create", json=body, headers=headers), 202)["job_id"]
    ok(agent.post(f"/v1/jobs/{job_id}/cancel", {}))
    waited = ok(agent.get(f"/v1/jobs/{job_id}/wait", params={"timeout_seconds": 30}))
    assert waited["job"]["status"] == "canceled"
    (delivery_id,) = app.deliveries()
    app.attempt(delivery_id)
    payload = receiver.received[0].verified(secret)
    assert (payload["type"], payload["data"]["job"]["job_id"]) == ("job.canceled", job_id)
