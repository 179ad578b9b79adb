"""The console from a test's side: links out of mail, claiming an agent, signing a human in."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from pathlib import Path

from fastapi.testclient import TestClient

from tests.support.agents import Agent

CLAIM_LINK_RE = re.compile(r"https?://\S+/claim/([A-Za-z0-9_-]{32,64})")
SIGN_IN_LINK_RE = re.compile(r"https?://\S+/console/sign-in/([A-Za-z0-9_-]{32,64})")
CSRF_RE = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


def mail_text(raw: bytes) -> str:
    """The plain-text body of one raw email."""
    message = message_from_bytes(raw, policy=policy.default)
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def outbox_messages(home: Path) -> list[bytes]:
    """Every message of the file outbox, oldest first."""
    outbox = home / "outbox"
    return [path.read_bytes() for path in sorted(outbox.glob("*.eml"))] if outbox.exists() else []


def newest_link(messages: list[bytes], pattern: re.Pattern[str]) -> str:
    """The newest link matching ``pattern`` in ``messages`` (its token)."""
    for raw in reversed(messages):
        found = pattern.search(mail_text(raw))
        if found:
            return found.group(1)
    raise AssertionError("no such link in the mail")


def claim(client: TestClient, agent: Agent, home: Path) -> None:
    """Claim ``agent`` through its emailed link (outbox backend), as its sponsor would."""
    response = agent.post("/v1/claims", {})
    assert response.status_code == 201, response.text
    token = newest_link(outbox_messages(home), CLAIM_LINK_RE)
    confirmed = client.post(f"/claim/{token}", data={"token": token})
    assert confirmed.status_code == 200, confirmed.text


def sign_in(client: TestClient, email: str, home: Path) -> str:
    """Sign ``email`` in to the console (the client keeps the cookie); returns the CSRF token."""
    asked = client.post("/console/sign-in", data={"email": email})
    assert asked.status_code == 200 and "Check your inbox" in asked.text
    token = newest_link(outbox_messages(home), SIGN_IN_LINK_RE)
    opened = client.post(f"/console/sign-in/{token}", data={"token": token}, follow_redirects=False)
    assert opened.status_code == 303, opened.text
    page = client.get("/console/agents")
    found = CSRF_RE.search(page.text)
    assert found, page.text
    return found.group(1)
