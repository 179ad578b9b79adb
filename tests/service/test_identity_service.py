"""Signup, token rotation, whoami and the quota read, through the API, on both databases."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, MetaData, select, text

from image_skill.contract.envelope import EXIT_CODE_HEADER, TRACE_HEADER
from image_skill.contract.errors import spec_for
from image_skill.contract.tokens import TOKEN_PREFIX, hash_token, is_well_formed
from image_skill.service.app import create_app
from tests.support.agents import Signup
from tests.support.apps import PEPPER, service_settings
from tests.support.envelopes import assert_envelope
from tests.support.routes import collection_routes

_RAW_TOKEN = re.compile(rf"{TOKEN_PREFIX}[a-z2-7]{{38}}")
AUTH_ROUTES = [route for route in collection_routes() if route.requires_auth]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def check_error(response: Response, code: str, exit_code: int) -> dict[str, Any]:
    spec = spec_for(code)
    assert spec.exit_code == exit_code
    assert response.status_code == spec.http_status, response.text
    envelope: dict[str, Any] = response.json()
    assert_envelope(envelope, ok=False)
    assert envelope["error"]["code"] == code, envelope["error"]
    assert response.headers[EXIT_CODE_HEADER] == str(exit_code)
    assert response.headers[TRACE_HEADER] == envelope["trace_id"]
    return envelope


def set_claim_state(db: Engine, actor_id: str, state: str) -> None:
    with db.begin() as conn:
        updated = conn.execute(
            text("UPDATE actors SET claim_state = :state WHERE id = :id"),
            {"state": state, "id": actor_id},
        ).rowcount
    assert updated == 1


def all_rows(db: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, read back through reflection."""
    metadata = MetaData()
    metadata.reflect(db)
    with db.connect() as conn:
        return {
            name: [tuple(row) for row in conn.execute(select(table))]
            for name, table in metadata.tables.items()
        }


# --- signup ------------------------------------------------------------------------------


def test_signup_returns_201_and_a_well_formed_token(api: TestClient, signup: Signup) -> None:
    response = api.post(
        "/v1/agent-signups",
        json={"human_email": "a@example.com", "agent_name": "bot-1", "runtime": "codex"},
    )
    assert response.status_code == 201, response.text
    envelope = response.json()
    assert_envelope(envelope, ok=True)
    assert envelope["command"] == "image-skill signup"
    assert response.headers[EXIT_CODE_HEADER] == "0"
    data = envelope["data"]
    token = data["token"]
    assert is_well_formed(token)
    assert data["rotated"] is False
    actor = envelope["actor"]
    assert actor == data["actor"]
    assert actor["actor_type"] == "agent"
    assert actor["actor_id"].startswith("agt_")
    assert actor["organization_id"].startswith("org_")
    assert actor["claim_state"] == "unclaimed"
    assert data["storage"]["artifact_storage"] == "configured"
    assert data["token_info"]["display_prefix"] == token[:10] + "…"
    assert data["human"]["email"] == "a***@example.com"  # masked
    assert "a@example.com" not in response.text
    assert data["quota"]["free_preview_credits_granted"] == 10
    # The token appears exactly once in the response: in data.token.
    assert _RAW_TOKEN.findall(response.text) == [token]


def test_token_is_stored_only_as_a_keyed_hash(api: TestClient, signup: Signup, db: Engine) -> None:
    first = signup("store@example.com", "bot")["data"]["token"]
    # A rotation (with the current token as proof) stores a second row.
    second = signup("store@example.com", "bot", token=first)["data"]["token"]
    rows = all_rows(db)
    assert rows["api_tokens"], "the scan must see the token table"
    for raw in (first, second):
        for table, table_rows in rows.items():
            for row in table_rows:
                for value in row:
                    assert raw not in str(value), f"raw token found in {table}"
                    # Nor a truncated copy of the secret part.
                    assert raw[len(TOKEN_PREFIX) : len(TOKEN_PREFIX) + 16] not in str(value)
    with db.connect() as conn:
        hashes = set(conn.execute(text("SELECT token_hash FROM api_tokens")).scalars())
    assert {hash_token(first, PEPPER), hash_token(second, PEPPER)} <= hashes
    # Keyed: the hash with another pepper is not what is stored.
    assert hash_token(first, "another-pepper") not in hashes


def test_resignup_with_the_current_token_rotates_it(api: TestClient, signup: Signup) -> None:
    first = signup("rot@example.com", "bot")
    old = first["data"]["token"]
    assert api.get("/v1/whoami", headers=bearer(old)).status_code == 200

    response = api.post(
        "/v1/agent-signups",
        json={"human_email": "rot@example.com", "agent_name": "bot"},
        headers=bearer(old),
    )
    assert response.status_code == 200, response.text
    second = response.json()
    new = second["data"]["token"]
    assert second["data"]["rotated"] is True
    assert second["warnings"], "a rotation must say earlier tokens were revoked"
    assert is_well_formed(new) and new != old
    assert second["actor"]["actor_id"] == first["actor"]["actor_id"]
    assert second["data"]["quota"]["free_preview_credits_granted"] == 0

    envelope = check_error(api.get("/v1/whoami", headers=bearer(old)), "TOKEN_REVOKED", 3)
    assert old not in str(envelope)
    check_error(api.get("/v1/quota", headers=bearer(old)), "TOKEN_REVOKED", 3)
    who = api.get("/v1/whoami", headers=bearer(new))
    assert who.status_code == 200
    assert who.json()["actor"]["actor_id"] == first["actor"]["actor_id"]
    # Rotation grants no second free preview.
    quota = api.get("/v1/quota", headers=bearer(new)).json()["data"]
    assert quota["credits"]["balance"] == 10


def test_resignup_without_proof_is_a_new_agent(api: TestClient, signup: Signup) -> None:
    first = signup("again@example.com", "bot")
    again = api.post(
        "/v1/agent-signups", json={"human_email": "again@example.com", "agent_name": "bot"}
    )
    assert again.status_code == 201, again.text
    assert again.json()["data"]["rotated"] is False
    assert again.json()["actor"]["actor_id"] != first["actor"]["actor_id"]
    # The first agent keeps its token.
    assert api.get("/v1/whoami", headers=bearer(first["data"]["token"])).status_code == 200


def test_email_is_normalized(api: TestClient, signup: Signup, db: Engine) -> None:
    first = signup("Mixed.Case@Example.COM", "bot")
    assert first["data"]["human"]["email"] == "m***@example.com"
    with db.connect() as conn:
        stored = conn.execute(
            text("SELECT sponsor_email FROM actors WHERE id = :id"),
            {"id": first["actor"]["actor_id"]},
        ).scalar_one()
    assert stored == "mixed.case@example.com"


def test_one_email_does_not_group_agents(api: TestClient, signup: Signup) -> None:
    one = signup("team@example.com", "bot-a")
    two = signup("team@example.com", "bot-b")
    assert one["actor"]["organization_id"] != two["actor"]["organization_id"]
    assert one["actor"]["actor_id"] != two["actor"]["actor_id"]
    assert two["data"]["rotated"] is False
    # Both tokens stay valid: different agents do not rotate each other.
    for envelope in (one, two):
        who = api.get("/v1/whoami", headers=bearer(envelope["data"]["token"]))
        assert who.json()["actor"]["actor_id"] == envelope["actor"]["actor_id"]


BAD_EMAILS = (
    "plainaddress",
    "missing-domain@",
    "@missing-local.com",
    "no-tld@example",
    "two@@example.com",
    "spaces in@example.com",
    "ctrl\x00@example.com",
    "new\nline@example.com",
    "tab@exa\tmple.com",
    "",
    "ab",
    "a" * 250 + "@example.com",
    "ünicode@example.com",
)

BAD_NAMES = (
    ("agent_name", ""),
    ("agent_name", "   "),
    ("agent_name", "x" * 101),
    ("agent_name", "bot\x00"),
    ("agent_name", "bot\x1b[31mred"),
    ("agent_name", "bo\nt"),
    ("agent_name", "bot\u200b"),
    ("agent_name", "bot\u202etxt.exe"),
    ("agent_name", "-leading-dash"),
    ("runtime", "codex\x07"),
    ("runtime", "r" * 101),
)


def test_malformed_emails_are_refused(api: TestClient) -> None:
    for email in BAD_EMAILS:
        response = api.post("/v1/agent-signups", json={"human_email": email, "agent_name": "bot"})
        envelope = check_error(response, "INVALID_ARGUMENTS", 2)
        assert envelope["error"]["details"]["field"] == "human_email", email
        assert "human_email" in envelope["error"]["message"]
        if len(email) > 3:
            assert email not in response.text


def test_bad_names_are_refused(api: TestClient) -> None:
    for field, value in BAD_NAMES:
        body = {"human_email": "names@example.com", "agent_name": "bot", field: value}
        response = api.post("/v1/agent-signups", json=body)
        envelope = check_error(response, "INVALID_ARGUMENTS", 2)
        assert envelope["error"]["details"]["field"] == field, (field, value)
        assert field in envelope["error"]["message"]


def test_refused_signup_creates_nothing(api: TestClient, db: Engine) -> None:
    response = api.post(
        "/v1/agent-signups", json={"human_email": "ok@example.com", "agent_name": "bad\x00"}
    )
    check_error(response, "INVALID_ARGUMENTS", 2)
    rows = all_rows(db)
    assert rows["actors"] == [] and rows["api_tokens"] == [] and rows["organizations"] == []


def test_return_token_false_returns_no_token(api: TestClient, signup: Signup) -> None:
    response = api.post(
        "/v1/agent-signups",
        json={"human_email": "quiet@example.com", "agent_name": "bot", "return_token": False},
    )
    assert response.status_code == 201, response.text
    envelope = response.json()
    assert_envelope(envelope, ok=True)
    assert envelope["data"]["token"] is None
    assert envelope["data"]["token_returned"] is False
    assert not _RAW_TOKEN.search(response.text)
    assert envelope["warnings"]


def test_concurrent_signups_for_one_email(api: TestClient, db: Engine) -> None:
    """Racing signups naming one email and three names: no 500, no human, nine agents."""
    names = [f"bot-{n % 3}" for n in range(9)]

    def sign(name: str) -> tuple[int, str, str | None]:
        response = api.post(
            "/v1/agent-signups", json={"human_email": "burst@example.com", "agent_name": name}
        )
        envelope = response.json()
        token = envelope["data"]["token"] if envelope["ok"] else None
        return response.status_code, name, token

    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        results = list(pool.map(sign, names))
    assert sorted(status for status, _, _ in results) == [201] * 9, results
    with db.connect() as conn:
        humans = conn.execute(
            text("SELECT count(*) FROM actors WHERE actor_type = 'human'")
        ).scalar_one()
        agents = conn.execute(
            text(
                "SELECT count(DISTINCT organization_id) FROM actors "
                "WHERE sponsor_email = 'burst@example.com'"
            )
        ).scalar_one()
    assert humans == 0 and agents == 9
    working = [
        token
        for _, _, token in results
        if token and api.get("/v1/whoami", headers=bearer(token)).status_code == 200
    ]
    assert len(working) == 9


# --- whoami and quota --------------------------------------------------------------------


def test_whoami_describes_the_agent(api: TestClient, signup: Signup) -> None:
    created = signup("who@example.com", "bot")
    token = created["data"]["token"]
    response = api.get("/v1/whoami", headers=bearer(token))
    assert response.status_code == 200
    envelope = response.json()
    assert_envelope(envelope, ok=True)
    assert envelope["command"] == "image-skill whoami"
    data = envelope["data"]
    assert envelope["actor"] == data["actor"] == created["actor"]
    assert data["organization"]["organization_id"] == created["actor"]["organization_id"]
    assert data["claim_state"] == "unclaimed"
    assert data["token_class"] == "restricted_agent"
    assert data["local_owner"] is False
    assert data["claim"] == {
        "state": "unclaimed",
        "claimed_at": None,
        "human_email": None,
        "sponsor_email": "w***@example.com",
        "pending_claim_id": None,
    }
    assert data["token"]["display_prefix"] == token[:10] + "…"
    grants = data["grants"]
    assert grants == sorted(grants)
    assert {"identity.read", "quota.read", "image.create.preview"} <= set(grants)
    assert "image.create" not in grants and "operator" not in grants
    assert token not in response.text


def _next_utc_midnight(moment: datetime) -> str:
    day = (moment + timedelta(days=1)).date()
    return f"{day.isoformat()}T00:00:00.000Z"


def test_quota_of_a_new_agent(api: TestClient, signup: Signup) -> None:
    token = signup("quota@example.com", "bot")["data"]["token"]
    before = datetime.now(UTC)
    response = api.get("/v1/quota", headers=bearer(token))
    after = datetime.now(UTC)
    assert response.status_code == 200
    envelope = response.json()
    assert_envelope(envelope, ok=True)
    assert envelope["command"] == "image-skill usage quota"
    data = envelope["data"]
    assert data["claim_state"] == "unclaimed"
    assert data["credits"]["balance"] == 10
    assert data["credits"]["free_preview_granted"] == 10
    assert data["jobs"]["daily_cap"] == 2
    assert data["jobs"]["used_today"] == 0
    assert data["jobs"]["remaining_today"] == 2
    resets_at = data["jobs"]["resets_at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT00:00:00\.000Z", resets_at), resets_at
    assert resets_at in {_next_utc_midnight(before), _next_utc_midnight(after)}


def test_quota_follows_settings(database_url: str, tmp_path: Any) -> None:
    settings = service_settings(database_url, tmp_path / "home").model_copy(
        update={"free_preview_credits": 3, "daily_job_cap_unclaimed": 7}
    )
    with TestClient(create_app(settings)) as client:
        response = client.post(
            "/v1/agent-signups", json={"human_email": "cfg@example.com", "agent_name": "bot"}
        )
        token = response.json()["data"]["token"]
        data = client.get("/v1/quota", headers=bearer(token)).json()["data"]
    assert data["credits"]["balance"] == 3
    assert data["jobs"]["daily_cap"] == 7


# --- claim states ------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["claimed", "payment_backed_unclaimed"])
def test_rotation_past_unclaimed_needs_the_current_token(
    api: TestClient, signup: Signup, db: Engine, state: str
) -> None:
    created = signup("claim@example.com", "bot")
    token = created["data"]["token"]
    set_claim_state(db, created["actor"]["actor_id"], state)
    body = {"human_email": "claim@example.com", "agent_name": "bot"}

    # Without proof signup makes a new agent (saying nothing of the existing one) and
    # revokes nothing; another agent's valid token or a garbage token is no proof either.
    other = signup("claim@example.com", "other-bot")["data"]["token"]
    for headers in ({}, bearer(other), bearer("isk_r_garbage")):
        response = api.post("/v1/agent-signups", json=body, headers=headers)
        assert response.status_code == 201, response.text
        assert response.json()["actor"]["actor_id"] != created["actor"]["actor_id"]
        assert response.json()["data"]["rotated"] is False
    assert api.get("/v1/whoami", headers=bearer(token)).status_code == 200

    response = api.post("/v1/agent-signups", json=body, headers=bearer(token))
    assert response.status_code == 200, response.text
    rotated = response.json()
    assert rotated["data"]["rotated"] is True
    assert rotated["actor"]["claim_state"] == state
    new = rotated["data"]["token"]
    check_error(api.get("/v1/whoami", headers=bearer(token)), "TOKEN_REVOKED", 3)
    who = api.get("/v1/whoami", headers=bearer(new)).json()
    assert who["data"]["claim_state"] == state


def test_revoked_agent_gets_token_revoked_everywhere(
    api: TestClient, signup: Signup, db: Engine
) -> None:
    created = signup("revoked@example.com", "bot")
    token = created["data"]["token"]
    set_claim_state(db, created["actor"]["actor_id"], "revoked")
    assert {"/v1/whoami", "/v1/quota"} <= {route.path for route in AUTH_ROUTES}
    for route in AUTH_ROUTES:
        for method in sorted(route.methods - {"HEAD"}):
            response = api.request(method, route.concrete_path, headers=bearer(token), json={})
            check_error(response, "TOKEN_REVOKED", 3)
    body = {"human_email": "revoked@example.com", "agent_name": "bot"}
    # Signup cannot resurrect it, with or without its token: either is a new agent.
    for headers in ({}, bearer(token)):
        response = api.post("/v1/agent-signups", json=body, headers=headers)
        assert response.status_code == 201, response.text
        assert response.json()["actor"]["actor_id"] != created["actor"]["actor_id"]
    check_error(api.get("/v1/whoami", headers=bearer(token)), "TOKEN_REVOKED", 3)
    with db.connect() as conn:
        live = conn.execute(
            text("SELECT count(*) FROM api_tokens WHERE actor_id = :id AND revoked_at IS NULL"),
            {"id": created["actor"]["actor_id"]},
        ).scalar_one()
    assert live == 1, "a refused signup must not issue or revoke tokens"
