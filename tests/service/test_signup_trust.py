"""Trust boundaries of signup and claims (issue 10), in-process on both databases.

An unverified email proves nothing: signup never joins an existing
organization, never rotates another agent's token, and answers the same way
whether the email or name was seen before. A human's agents share an
organization only through a confirmed, single-use, expiring claim link.
"""

from __future__ import annotations

import logging
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from image_skill.contract.tokens import is_well_formed
from image_skill.service.mail.base import MailDeliveryFailed, MailMessage
from tests.support.agents import Agent, sign_up
from tests.support.apps import started_app
from tests.support.envelopes import check_error, ok
from tests.support.images import png

LINK = re.compile(r"https?://[^/\s]+/claim/([A-Za-z0-9_-]+)")
PAGE_HEADERS = {
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def outbox_links(client: TestClient) -> list[tuple[str, str]]:
    """(claim id, link token) of every outbox message, oldest first."""
    home: Path = client.app.state.settings.home  # type: ignore[attr-defined]
    found = []
    for path in sorted((home / "outbox").glob("*.eml")):
        text_ = path.read_text()
        claim_id = re.search(r"X-Image-Skill-Claim-Id: (claim_\w+)", text_)
        link = LINK.search(text_)
        assert claim_id and link, text_
        found.append((claim_id.group(1), link.group(1)))
    return found


def request_claim(agent: Agent) -> tuple[dict[str, Any], str]:
    """POST /v1/claims -> (claim view, the link token from the outbox)."""
    claim = ok(agent.post("/v1/claims", {}), 201)["claim"]
    claim_id, token = outbox_links(agent.client)[-1]
    assert claim_id == claim["claim_id"]
    return claim, token


def confirm(client: TestClient, token: str) -> Any:
    return client.post(f"/claim/{token}", data={"token": token})


def shape(value: Any) -> Any:
    """The structure of a JSON value: keys and types, not contents."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value]
    return type(value).__name__


# --- signup: no trust in the email ----------------------------------------------------


def test_intruder_with_the_victims_email_gets_nothing_of_the_victims(
    api: TestClient, db: Engine
) -> None:
    victim = sign_up(api, "victim@example.com", "studio-bot")
    asset = ok(victim.upload(png()))["asset"]["asset_id"]
    job = ok(victim.create())["job_id"]
    victim_events = ok(victim.get("/v1/activity"), 200)["events"]
    assert victim_events

    # Same sponsor email and the same agent name, as the old takeover did.
    intruder = sign_up(api, "victim@example.com", "studio-bot")
    assert intruder.organization_id != victim.organization_id
    assert intruder.actor_id != victim.actor_id
    for path in (f"/v1/assets/{asset}", f"/v1/jobs/{job}", f"/v1/activity/{job}"):
        check_error(intruder.get(path), "NOT_FOUND", 1)
    seen = {event["event_id"] for event in ok(intruder.get("/v1/activity"), 200)["events"]}
    assert not seen & {event["event_id"] for event in victim_events}
    assert ok(intruder.get("/v1/jobs"), 200)["jobs"] == []
    check_error(intruder.edit(input_asset_id=asset, prompt="grayscale"), "NOT_FOUND", 1)

    # The victim was not rotated out: its token still works and is its only live one.
    assert ok(victim.get("/v1/whoami"), 200)["actor"]["actor_id"] == victim.actor_id
    with db.connect() as conn:
        live = conn.execute(
            text("SELECT count(*) FROM api_tokens WHERE actor_id = :id AND revoked_at IS NULL"),
            {"id": victim.actor_id},
        ).scalar_one()
        humans = conn.execute(text("SELECT count(*) FROM actors WHERE actor_type = 'human'"))
        assert humans.scalar_one() == 0, "signup must not create (unverified) humans"
    assert live == 1


def test_existing_and_new_email_and_name_answer_alike(api: TestClient) -> None:
    api.post("/v1/agent-signups", json={"human_email": "seen@example.com", "agent_name": "bot"})
    answers = []
    for email, name in (
        ("seen@example.com", "bot"),  # both seen
        ("seen@example.com", "other"),  # email seen
        ("fresh@example.com", "bot"),  # name seen
        ("fresh2@example.com", "new"),  # neither
    ):
        response = api.post("/v1/agent-signups", json={"human_email": email, "agent_name": name})
        answers.append(response)
    assert {response.status_code for response in answers} == {201}
    envelopes = [response.json() for response in answers]
    assert len({repr(shape(envelope)) for envelope in envelopes}) == 1
    for envelope in envelopes:
        data = envelope["data"]
        assert data["rotated"] is False and envelope["warnings"] == []
        assert data["human"]["human_id"] is None and data["human"]["verified"] is False
        assert data["quota"]["free_preview_credits_granted"] == 10
    assert len({envelope["actor"]["organization_id"] for envelope in envelopes}) == 4


def test_rotation_needs_the_agents_current_token(api: TestClient) -> None:
    first = sign_up(api, "rot@example.com", "bot")
    body = {"human_email": "rot@example.com", "agent_name": "bot"}
    # Another agent's token (even one of the same sponsor email) proves nothing.
    other = sign_up(api, "rot@example.com", "other")
    stranger = api.post("/v1/agent-signups", json=body, headers=bearer(other.token))
    assert stranger.status_code == 201 and stranger.json()["data"]["rotated"] is False
    assert stranger.json()["actor"]["actor_id"] not in (first.actor_id, other.actor_id)
    ok(first.get("/v1/whoami"), 200)
    ok(other.get("/v1/whoami"), 200)

    response = api.post("/v1/agent-signups", json=body, headers=bearer(first.token))
    rotated = ok(response, 200)
    assert rotated["rotated"] is True and rotated["actor"]["actor_id"] == first.actor_id
    assert is_well_formed(rotated["token"]) and rotated["token"] != first.token
    assert rotated["quota"]["free_preview_credits_granted"] == 0
    check_error(first.get("/v1/whoami"), "TOKEN_REVOKED", 3)
    who = api.get("/v1/whoami", headers=bearer(rotated["token"]))
    assert ok(who, 200)["actor"]["actor_id"] == first.actor_id


def test_concurrent_rotations_with_one_token_leave_one_live_token(
    api: TestClient, db: Engine
) -> None:
    agent = sign_up(api, "race@example.com", "bot")
    body = {"human_email": "race@example.com", "agent_name": "bot"}

    def rotate(_: int) -> dict[str, Any]:
        response = api.post("/v1/agent-signups", json=body, headers=bearer(agent.token))
        assert response.status_code in (200, 201), response.text
        envelope: dict[str, Any] = response.json()
        return envelope

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(rotate, range(6)))
    rotations = [r for r in results if r["data"]["rotated"]]
    assert len(rotations) >= 1
    with db.connect() as conn:
        live = conn.execute(
            text("SELECT count(*) FROM api_tokens WHERE actor_id = :id AND revoked_at IS NULL"),
            {"id": agent.actor_id},
        ).scalar_one()
    assert live == 1, "a rotation race left two live tokens"
    working = [
        r
        for r in rotations
        if api.get("/v1/whoami", headers=bearer(r["data"]["token"])).status_code == 200
    ]
    assert len(working) == 1


def test_free_preview_daily_ceiling(database_url: str, tmp_path: Path) -> None:
    with started_app(
        database_url, tmp_path / "home", free_preview_credits=10, free_preview_daily_ceiling=45
    ) as client:

        def signup(n: int) -> dict[str, Any]:
            body = {"human_email": f"flood{n}@example.com", "agent_name": f"bot-{n}"}
            response = client.post("/v1/agent-signups", json=body)
            assert response.status_code == 201, response.text
            envelope: dict[str, Any] = response.json()
            return envelope

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(signup, range(8)))
        granted = [r["data"]["quota"]["free_preview_credits_granted"] for r in results]
        assert sorted(granted) == [0, 0, 0, 0, 10, 10, 10, 10]
        for result in results:
            capped = result["data"]["quota"]["free_preview_credits_granted"] == 0
            assert capped == any("free preview" in w for w in result["warnings"])
            balance = client.get("/v1/quota", headers=bearer(result["data"]["token"]))
            assert balance.json()["data"]["credits"]["balance"] == (0 if capped else 10)


def test_yesterdays_free_previews_do_not_count(
    database_url: str, tmp_path: Path, db: Engine
) -> None:
    with started_app(
        database_url, tmp_path / "home", free_preview_credits=10, free_preview_daily_ceiling=10
    ) as client:
        first = sign_up(client, "a@example.com", "bot")
        assert first.quota()["credits"]["balance"] == 10
        assert sign_up(client, "b@example.com", "bot").quota()["credits"]["balance"] == 0
        with db.begin() as conn:
            conn.execute(
                text("UPDATE credit_ledger_entries SET created_at = :t"),
                {"t": datetime.now(UTC) - timedelta(days=1)},
            )
        assert sign_up(client, "c@example.com", "bot").quota()["credits"]["balance"] == 10


# --- claims ------------------------------------------------------------------------------


def test_claim_link_page_confirms_only_on_post_and_works_once(api: TestClient) -> None:
    agent = sign_up(api, "Owner@Example.com", "bot")
    claim, token = request_claim(agent)
    assert claim["state"] == "pending" and claim["agent_id"] == agent.actor_id
    assert claim["sponsor_email"] == "o***@example.com"
    assert claim["claim_id"].startswith("claim_")
    whoami = ok(agent.get("/v1/whoami"), 200)
    assert whoami["claim"]["pending_claim_id"] == claim["claim_id"]
    assert whoami["claim"]["state"] == "unclaimed"

    for _ in range(2):  # a mail scanner's prefetch and the human's visit
        page = api.get(f"/claim/{token}")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert "bot" in page.text and "500" in page.text  # the claimed daily cap
        assert "<script" not in page.text
        for name, value in PAGE_HEADERS.items():
            assert page.headers[name] == value
        assert "default-src 'none'" in page.headers["content-security-policy"]
    assert ok(agent.get("/v1/whoami"), 200)["claim_state"] == "unclaimed"

    # The path token is the proof; the form must repeat it.
    mismatch = api.post(f"/claim/{token}", data={"token": "x" * 43})
    assert mismatch.status_code == 400 and "does not match" in mismatch.text
    done = confirm(api, token)
    assert done.status_code == 200 and "Agent claimed" in done.text
    assert done.headers["x-frame-options"] == "DENY"

    me = ok(agent.get("/v1/whoami"), 200)
    assert (
        me["claim_state"] == "claimed" and me["actor"]["organization_id"] != agent.organization_id
    )
    assert me["claim"]["human_email"] == "o***@example.com" and me["claim"]["claimed_at"]
    assert me["claim"]["pending_claim_id"] is None
    status = ok(agent.get(f"/v1/claims/{claim['claim_id']}"), 200)["claim"]
    assert status["state"] == "confirmed" and status["confirmed_at"]
    events = ok(agent.get("/v1/activity"), 200)["events"]
    claimed = [event for event in events if event["type"] == "agent.claimed"]
    assert len(claimed) == 1 and claimed[0]["links"]["claim_id"] == claim["claim_id"]

    for again in (confirm(api, token), api.get(f"/claim/{token}")):
        assert again.status_code == 410 and "already used" in again.text
    # A claimed agent has nothing left to ask.
    check_error(agent.post("/v1/claims", {}), "CONFLICT", 1)


def test_claim_moves_the_agents_rows_and_joins_the_humans_agents(
    api: TestClient, db: Engine
) -> None:
    first = sign_up(api, "team@example.com", "bot-a")
    asset = ok(first.upload(png()))["asset"]["asset_id"]
    job = ok(first.create())["job_id"]
    confirm(api, request_claim(first)[1])
    second = sign_up(api, "team@example.com", "bot-b")
    assert second.organization_id != first.organization_id  # not before its own claim
    check_error(second.get(f"/v1/assets/{asset}"), "NOT_FOUND", 1)
    confirm(api, request_claim(second)[1])

    one = ok(first.get("/v1/whoami"), 200)["actor"]["organization_id"]
    two = ok(second.get("/v1/whoami"), 200)["actor"]["organization_id"]
    assert one == two
    # The first agent's rows moved with it, so its new colleague sees them.
    assert ok(second.get(f"/v1/assets/{asset}"), 200)["asset"]["asset_id"] == asset
    assert ok(second.get(f"/v1/jobs/{job}"), 200)["job"]["job_id"] == job
    with db.connect() as conn:
        for table in ("jobs", "assets", "credit_ledger_entries", "activity_events"):
            orgs = conn.execute(
                text(f"SELECT DISTINCT organization_id FROM {table} WHERE actor_id = :id"),
                {"id": first.actor_id},
            ).scalars()
            assert set(orgs) == {one}, table
        refs = conn.execute(
            text(
                "SELECT count(*) FROM activity_refs r JOIN activity_events e "
                "ON e.id = r.event_id WHERE r.organization_id != e.organization_id"
            )
        ).scalar_one()
        humans = conn.execute(
            text(
                "SELECT count(*) FROM actors WHERE actor_type = 'human' AND verified_at IS NOT NULL"
            )
        ).scalar_one()
    assert refs == 0 and humans == 1


def test_a_new_request_supersedes_the_old_link(api: TestClient) -> None:
    agent = sign_up(api, "s@example.com", "bot")
    old_claim, old_token = request_claim(agent)
    new_claim, new_token = request_claim(agent)
    assert old_token != new_token
    stale = api.get(f"/claim/{old_token}")
    assert stale.status_code == 410 and "replaced" in stale.text
    assert confirm(api, old_token).status_code == 410
    old = ok(agent.get(f"/v1/claims/{old_claim['claim_id']}"), 200)["claim"]
    assert old["state"] == "superseded"
    assert ok(agent.get("/v1/claims"), 200)["claims"][0]["claim_id"] == new_claim["claim_id"]
    assert confirm(api, new_token).status_code == 200


def test_expired_and_unknown_links_are_clear_pages(api: TestClient, db: Engine) -> None:
    agent = sign_up(api, "e@example.com", "bot")
    claim, token = request_claim(agent)
    with db.begin() as conn:
        conn.execute(
            text("UPDATE claims SET expires_at = :t"),
            {"t": datetime.now(UTC) - timedelta(seconds=1)},
        )
    for response in (api.get(f"/claim/{token}"), confirm(api, token)):
        assert response.status_code == 410 and "expired" in response.text
        assert response.headers["cache-control"] == "no-store"
    assert ok(agent.get(f"/v1/claims/{claim['claim_id']}"), 200)["claim"]["state"] == "expired"
    assert ok(agent.get("/v1/whoami"), 200)["claim_state"] == "unclaimed"

    for bad in ("A" * 43, "short", "x" * 300, "%00" * 40, "<script>alert(1)</script>"):
        for response in (api.get(f"/claim/{bad}"), confirm(api, bad)):
            assert response.status_code in (404, 400), (bad, response.status_code)
            assert "<script>alert" not in response.text


def test_claims_of_other_agents_are_not_found_like_missing_ones(api: TestClient) -> None:
    owner = sign_up(api, "o@example.com", "bot")
    other = sign_up(api, "o@example.com", "bot")
    claim, _ = request_claim(owner)
    theirs = check_error(other.get(f"/v1/claims/{claim['claim_id']}"), "NOT_FOUND", 1)
    missing_id = "claim_" + "0" * 26
    missing = check_error(other.get(f"/v1/claims/{missing_id}"), "NOT_FOUND", 1)
    assert theirs["message"] == missing["message"]
    assert ok(other.get("/v1/claims"), 200)["claims"] == []
    check_error(other.get("/v1/claims/claim_bad%00id"), "INVALID_ARGUMENTS", 2)


def test_claim_responses_never_hold_the_link(api: TestClient) -> None:
    agent = sign_up(api, "l@example.com", "bot")
    response = agent.post("/v1/claims", {})
    token = outbox_links(api)[-1][1]
    assert token not in response.text and "/claim/" not in response.text
    for path in ("/v1/claims", "/v1/whoami", "/v1/activity"):
        assert token not in agent.get(path).text


def test_outbox_messages_are_private_files(api: TestClient) -> None:
    agent = sign_up(api, "p@example.com", "bot")
    request_claim(agent)
    home: Path = api.app.state.settings.home  # type: ignore[attr-defined]
    files = list((home / "outbox").glob("*"))
    assert files and all(path.suffix == ".eml" for path in files)
    assert all(path.stat().st_mode & 0o777 == 0o600 for path in files)


class _BrokenMail:
    name = "broken"

    async def send(self, message: MailMessage) -> None:
        raise MailDeliveryFailed("The mail server refused or failed (ConnectionRefusedError).")


def test_a_failed_send_is_a_retryable_error_without_the_link(
    api: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    agent = sign_up(api, "f@example.com", "bot")
    api.app.state.mail_backend = _BrokenMail()  # type: ignore[attr-defined]
    with caplog.at_level(logging.DEBUG, logger="image_skill"):
        response = agent.post("/v1/claims", {})
    assert "claim mail not sent" in caplog.text
    error = check_error(response, "SERVICE_UNAVAILABLE", 7)
    assert error["retryable"] is True
    assert "f@example.com" not in response.text and "/claim/" not in caplog.text
    assert "f@example.com" not in caplog.text
    api.app.state.mail_backend = None  # type: ignore[attr-defined]
    _, token = request_claim(agent)  # asking again works, and supersedes the unsent one
    assert confirm(api, token).status_code == 200


def test_signup_and_claim_requests_are_rate_limited_per_email(
    database_url: str, tmp_path: Path
) -> None:
    with started_app(
        database_url,
        tmp_path / "home",
        rate_limit_signup_per_email="2/hour",
        rate_limit_claim_per_email="1/hour",
    ) as client:
        sign_up(client, "limited@example.com", "a")
        agent = sign_up(client, "Limited@Example.com", "b")
        body = {"human_email": "limited@example.com", "agent_name": "c"}
        refused = client.post("/v1/agent-signups", json=body)
        error = check_error(refused, "RATE_LIMITED", 5)
        assert int(refused.headers["retry-after"]) == error["recovery"]["retry_after_seconds"] > 0
        sign_up(client, "other@example.com", "c")  # another email is counted apart

        ok(agent.post("/v1/claims", {}), 201)
        check_error(agent.post("/v1/claims", {}), "RATE_LIMITED", 5)
        assert len(outbox_links(client)) == 1, "a refused claim request sends nothing"
