"""The web console in-process: sign-in by emailed link, sessions, CSRF, organization scoping,
and that pages never show a token, another organization's data or a local path."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from tests.support.agents import sign_up
from tests.support.apps import started_app
from tests.support.console import (
    SIGN_IN_LINK_RE,
    claim,
    mail_text,
    newest_link,
    outbox_messages,
    sign_in,
)
from tests.support.images import png_bytes

EMAIL = "owner@example.com"
_PAST = datetime(2000, 1, 1, tzinfo=UTC)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "service-home"


def test_sign_in_pages_and_scoping(database_url: str, home: Path) -> None:
    with started_app(database_url, home, mail_backend="outbox") as client:
        agent = sign_up(client, EMAIL, "painter")
        claim(client, agent, home)
        made = agent.create(prompt="a secret lighthouse")
        assert made.status_code in (200, 201, 202), made.text
        asset_id = made.json()["data"]["assets"][0]["asset_id"]

        stranger = sign_up(client, "stranger@example.com", "other")
        claim(client, stranger, home)
        foreign = stranger.upload(png_bytes(8, 8)).json()["data"]["asset"]["asset_id"]

        # Not signed in: pages send to the home page, images are refused.
        assert client.get("/console/gallery", follow_redirects=False).status_code == 303
        assert client.get(f"/console/assets/{asset_id}/image").status_code == 401

        csrf = sign_in(client, EMAIL, home)
        cookie = client.cookies.get("isk_console")
        assert cookie

        gallery = client.get("/console/gallery")
        assert (
            gallery.status_code == 200 and asset_id in gallery.text and foreign not in gallery.text
        )
        detail = client.get(f"/console/assets/{asset_id}")
        assert detail.status_code == 200 and made.json()["data"]["job_id"] in detail.text
        thumb = client.get(f"/console/assets/{asset_id}/thumbnail")
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/webp"
        assert client.get(f"/console/assets/{asset_id}/image").status_code == 200
        for path in (f"/console/assets/{foreign}", f"/console/assets/{foreign}/thumbnail"):
            assert client.get(path).status_code == 404

        pages = [
            client.get(f"/console/{name}")
            for name in ("jobs", "activity", "credits", "agents", "feedback")
        ]
        for page in pages:
            assert page.status_code == 200, page.text
            assert "default-src 'none'" in page.headers["content-security-policy"]
            for secret in (agent.token, stranger.token, "a secret lighthouse", str(home)):
                assert secret not in page.text
        assert "<svg" in pages[2].text
        job_id = made.json()["data"]["job_id"]
        assert job_id in pages[0].text and "held" not in pages[0].text
        assert job_id in client.get("/console/jobs", params={"status": "completed"}).text
        assert job_id not in client.get("/console/jobs", params={"status": "failed"}).text

        # A form without the session's CSRF token is refused and changes nothing.
        refused = client.post(f"/console/agents/{agent.actor_id}/revoke", data={})
        assert refused.status_code == 403
        assert agent.get("/v1/whoami").status_code == 200
        other_org = client.post(f"/console/agents/{stranger.actor_id}/revoke", data={"csrf": csrf})
        assert other_org.status_code == 404
        assert stranger.get("/v1/whoami").status_code == 200

        rotated = client.post(f"/console/agents/{agent.actor_id}/rotate", data={"csrf": csrf})
        assert rotated.status_code == 200 and "isk_r_" in rotated.text
        assert agent.get("/v1/whoami").json()["error"]["code"] == "TOKEN_REVOKED"

        # Signing out revokes the session in the database: the old cookie is dead.
        out = client.post("/console/sign-out", data={"csrf": csrf})
        assert out.status_code == 200
        client.cookies.set("isk_console", cookie, path="/console")
        assert client.get("/console/gallery", follow_redirects=False).status_code == 303


def test_sign_in_answers_alike_and_links_work_once(database_url: str, home: Path) -> None:
    limits: dict[str, Any] = {"rate_limit_claim_per_email": "4/hour"}
    with started_app(database_url, home, mail_backend="outbox", **limits) as client:
        agent = sign_up(client, EMAIL, "painter")
        before = len(outbox_messages(home))
        # An unverified sponsor (not yet claimed) and an unknown address: same page, no mail.
        unverified = client.post("/console/sign-in", data={"email": EMAIL})
        unknown = client.post("/console/sign-in", data={"email": "nobody@example.com"})
        assert unverified.status_code == unknown.status_code == 200
        assert _page(unverified.text) == _page(unknown.text)
        assert len(outbox_messages(home)) == before

        claim(client, agent, home)
        known = client.post("/console/sign-in", data={"email": EMAIL.upper()})
        assert _page(known.text) == _page(unknown.text)
        token = newest_link(outbox_messages(home), SIGN_IN_LINK_RE)
        # Opening the link (a mail scanner) spends nothing; a mismatched form is refused.
        assert client.get(f"/console/sign-in/{token}").status_code == 200
        assert client.post(f"/console/sign-in/{token}", data={"token": "x" * 43}).status_code == 400
        first = client.post(
            f"/console/sign-in/{token}", data={"token": token}, follow_redirects=False
        )
        assert first.status_code == 303
        set_cookie = first.headers["set-cookie"].lower()
        assert (
            "httponly" in set_cookie
            and "samesite=lax" in set_cookie
            and "path=/console" in set_cookie
        )
        again = client.post(
            f"/console/sign-in/{token}", data={"token": token}, follow_redirects=False
        )
        assert again.status_code == 410
        assert client.get("/console/sign-in/not-a-token").status_code == 404

        # Posted from another site: refused before anything is read or mailed.
        sent = len(outbox_messages(home))
        evil = {"origin": "https://evil.example"}
        assert (
            client.post("/console/sign-in", data={"email": EMAIL}, headers=evil).status_code == 403
        )
        fetched = {"sec-fetch-site": "cross-site", "origin": "null"}
        assert (
            client.post("/console/sign-in", data={"email": EMAIL}, headers=fetched).status_code
            == 403
        )
        assert len(outbox_messages(home)) == sent
        # Asking is limited per address like a claim request (its own counter).
        answers = [client.post("/console/sign-in", data={"email": EMAIL}) for _ in range(6)]
        assert answers[-1].status_code == 429 and int(answers[-1].headers["retry-after"]) > 0


def _page(html: str) -> str:
    """A page without its per-response nonce."""
    return re.sub(r'nonce="[^"]+"', "", html)


def test_expired_and_foreign_sessions_and_links_end(
    database_url: str, home: Path, db: Engine
) -> None:
    with started_app(database_url, home, mail_backend="outbox") as client:
        agent = sign_up(client, EMAIL, "painter")
        claim(client, agent, home)
        sign_in(client, EMAIL, home)
        assert client.get("/console/agents").status_code == 200
        with db.begin() as conn:
            conn.execute(text("UPDATE console_sessions SET expires_at = :t"), {"t": _PAST})
        assert client.get("/console/agents", follow_redirects=False).status_code == 303

        sign_in(client, EMAIL, home)
        with db.begin() as conn:  # the human no longer belongs to the session's organization
            conn.execute(
                text("UPDATE console_sessions SET organization_id = :o WHERE revoked_at IS NULL"),
                {"o": agent.organization_id},
            )
        assert client.get("/console/agents", follow_redirects=False).status_code == 303

        client.post("/console/sign-in", data={"email": EMAIL})
        token = newest_link(outbox_messages(home), SIGN_IN_LINK_RE)
        with db.begin() as conn:
            conn.execute(text("UPDATE console_sign_in_links SET expires_at = :t"), {"t": _PAST})
        late = client.post(
            f"/console/sign-in/{token}", data={"token": token}, follow_redirects=False
        )
        assert late.status_code == 410
        with db.connect() as conn:
            stored = conn.execute(text("SELECT token_hash FROM console_sessions")).scalars().all()
        assert stored and token not in stored and all(len(h) == 64 for h in stored)


def test_the_cookie_is_secure_when_the_service_is_public_on_https(
    database_url: str, home: Path
) -> None:
    public = "https://images.example"
    with started_app(database_url, home, mail_backend="outbox", public_base_url=public) as client:
        agent = sign_up(client, EMAIL, "painter")
        claim(client, agent, home)
        client.post("/console/sign-in", data={"email": EMAIL})
        token = newest_link(outbox_messages(home), SIGN_IN_LINK_RE)
        assert f"{public}/console/sign-in/{token}" in mail_text(outbox_messages(home)[-1])
        opened = client.post(
            f"/console/sign-in/{token}",
            data={"token": token},
            headers={"origin": public},
            follow_redirects=False,
        )
        assert opened.status_code == 303
        assert "secure" in opened.headers["set-cookie"].lower()
