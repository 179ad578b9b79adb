"""The human claim flow end to end: the real CLI, a real ``image-skill serve``, a real
SMTP server on loopback (aiosmtpd), and an HTTP client following the emailed link.

Also the development path: embedded mode writes the email to the local outbox and
``claim link`` reads it back.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.support.cli import RunCli, checked_until_teardown, expect
from tests.support.servers import Server, free_port, start_server, stop_server

LINK_RE = re.compile(r"https?://\S+/claim/([A-Za-z0-9_-]{32,64})")


@dataclass
class Inbox:
    """What the loopback SMTP server received."""

    messages: list[tuple[list[str], bytes]] = field(default_factory=list)
    running: bool = True

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 Message accepted for delivery"

    def link_for(self, claim_id: str) -> str:
        """The claim link of the newest message about ``claim_id``."""
        for _rcpt, raw in reversed(self.messages):
            message = message_from_bytes(raw, policy=policy.default)
            if message["X-Image-Skill-Claim-Id"] == claim_id:
                found = LINK_RE.search(message.get_body(("plain",)).get_content())  # type: ignore[union-attr]
                assert found, raw
                return found.group(0)
        raise AssertionError(f"no email for {claim_id}")


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, Controller]]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield inbox, controller
    if inbox.running:
        controller.stop()


@pytest.fixture
def server(database_url: str, tmp_path: Path, smtp: tuple[Inbox, Controller]) -> Iterator[Server]:
    """``image-skill serve`` sending mail through the loopback SMTP server."""
    _inbox, controller = smtp
    running = start_server(
        database_url,
        tmp_path,
        {
            "IMAGE_SKILL_MAIL_BACKEND": "smtp",
            "IMAGE_SKILL_SMTP_HOST": "127.0.0.1",
            "IMAGE_SKILL_SMTP_PORT": str(controller.port),
            "IMAGE_SKILL_SMTP_SECURITY": "none",
            "IMAGE_SKILL_SMTP_TIMEOUT_SECONDS": "5",
            "IMAGE_SKILL_MAIL_FROM": "Image Skill <claims@image-skill.test>",
        },
    )
    yield running
    stop_server(running)


@pytest.fixture
def run(cli: RunCli, request: pytest.FixtureRequest) -> Iterator[RunCli]:
    yield from checked_until_teardown(cli, request)


def page(url: str, form: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    """GET (or POST the form to) a claim page as a browser would: status, headers, HTML."""
    data = None if form is None else urllib.parse.urlencode(form).encode()
    request = urllib.request.Request(url, data=data, method="GET" if form is None else "POST")
    if data is not None:
        request.add_header("content-type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            status, headers, body = response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        status, headers, body = exc.code, exc.headers, exc.read()
    return status, {k.lower(): v for k, v in headers.items()}, body.decode()


def confirm(url: str) -> tuple[int, dict[str, str], str]:
    token = url.rsplit("/", 1)[1]
    return page(url, {"token": token})


def test_claim_flow_through_cli_smtp_and_page(
    server: Server, smtp: tuple[Inbox, Controller], run: RunCli
) -> None:
    inbox, controller = smtp
    base = ("--api-base-url", server.base_url, "--json")
    signup = ("signup", "--agent", "--human-email", "Sponsor@Example.com", "--runtime", "codex")
    first = expect(run(*signup, "--agent-name", "painter", "--save", *base), 0)["actor"]

    requested = expect(run("claim", "request", *base), 0)
    claim = requested["data"]["claim"]
    assert requested["command"] == "image-skill claim request"
    assert claim["state"] == "pending" and claim["sponsor_email"] == "s***@example.com"
    assert "/claim/" not in str(requested)
    latest = expect(run("claim", "status", *base), 0)["data"]["claim"]
    assert latest["claim_id"] == claim["claim_id"] and latest["state"] == "pending"
    who = expect(run("whoami", *base), 0)["data"]
    assert who["claim"]["pending_claim_id"] == claim["claim_id"]

    rcpt, _raw = inbox.messages[-1]
    assert rcpt == ["sponsor@example.com"]
    link = inbox.link_for(claim["claim_id"])
    assert link.startswith(server.base_url + "/claim/")

    # Opening the link (twice, like a mail scanner and then the human) changes nothing.
    for _ in range(2):
        status, headers, html = page(link)
        assert status == 200 and "painter" in html and "codex" in html and "Confirm" in html
        assert headers["x-frame-options"] == "DENY" and headers["cache-control"] == "no-store"
        assert "default-src 'none'" in headers["content-security-policy"]
    assert expect(run("whoami", *base), 0)["actor"]["claim_state"] == "unclaimed"

    status, _headers, html = confirm(link)
    assert status == 200 and "Agent claimed" in html
    me = expect(run("whoami", *base), 0)
    assert me["actor"]["claim_state"] == "claimed"
    assert me["actor"]["organization_id"] != first["organization_id"]
    assert me["data"]["claim"]["human_email"] == "s***@example.com"
    assert me["data"]["claim"]["claimed_at"] and me["data"]["claim"]["pending_claim_id"] is None
    assert "image.create" in me["data"]["grants"]
    done = expect(run("claim", "status", claim["claim_id"], *base), 0)["data"]["claim"]
    assert done["state"] == "confirmed"
    events = expect(run("activity", "list", *base), 0)["data"]["events"]
    assert [e["links"]["claim_id"] for e in events if e["type"] == "agent.claimed"] == [
        claim["claim_id"]
    ]
    assert expect(run("quota", *base), 0)["data"]["jobs"]["daily_cap"] == 500

    # The link works once; a wrong one is a clear page too, never a 500.
    for status, _h, html in (confirm(link), page(link)):
        assert status == 410 and "already used" in html
    wrong = link[:-4] + ("aaaa" if not link.endswith("aaaa") else "bbbb")
    for status, _h, html in (page(wrong), confirm(wrong)):
        assert status == 404 and "not valid" in html
    expect(run("claim", "request", *base), 1, "CONFLICT")

    # A second agent of the same human joins the same organization, only through its claim.
    second_signup = run(*signup, "--agent-name", "sketcher", "--show-token", *base)
    second = expect(second_signup, 0)
    as_second = {"IMAGE_SKILL_TOKEN": second["data"]["token"]}
    assert second["actor"]["organization_id"] != me["actor"]["organization_id"]
    other_claim = expect(run("claim", "request", *base, env=as_second), 0)["data"]["claim"]
    assert confirm(inbox.link_for(other_claim["claim_id"]))[0] == 200
    joined = expect(run("whoami", *base, env=as_second), 0)["actor"]
    assert joined["organization_id"] == me["actor"]["organization_id"]
    assert joined["claim_state"] == "claimed"

    # A mail server that is down is a retryable error; nothing about it leaks.
    third = expect(run(*signup, "--agent-name", "third", "--show-token", *base), 0)
    controller.stop()
    inbox.running = False
    failed = expect(
        run("claim", "request", *base, env={"IMAGE_SKILL_TOKEN": third["data"]["token"]}),
        7,
        "SERVICE_UNAVAILABLE",
    )
    assert failed["error"]["retryable"] is True
    assert "127.0.0.1" not in failed["error"]["message"]
    log = server.log()
    assert "sponsor@example.com" not in log and "/claim/" + link.rsplit("/", 1)[1] not in log
    assert link.rsplit("/", 1)[1] not in log


def test_embedded_claim_link_from_the_outbox(
    run: RunCli, isolated_home: Path, tmp_path: Path
) -> None:
    signup = ("signup", "--agent", "--human-email", "me@example.com", "--agent-name", "local")
    agent = expect(run(*signup, "--save", "--json"), 0)["actor"]
    claim = expect(run("claim", "request", "--json"), 0)["data"]["claim"]
    shown = expect(run("claim", "link", claim["claim_id"], "--json"), 0)
    link = shown["data"]["link"]
    assert shown["data"]["claim_id"] == claim["claim_id"]
    assert re.fullmatch(r"http://127\.0\.0\.1:8787/claim/[A-Za-z0-9_-]{43}", link)
    data_dir = isolated_home / "data"
    outbox = list((data_dir / "outbox").glob("*.eml"))
    assert len(outbox) == 1 and outbox[0].stat().st_mode & 0o777 == 0o600
    expect(run("claim", "link", "claim_" + "0" * 26, "--json"), 1, "NOT_FOUND")
    expect(run("claim", "link", "not-a-claim", "--json"), 2, "INVALID_ARGUMENTS")

    # `image-skill serve` on the same data directory opens the link.
    served = start_server(
        f"sqlite:///{data_dir / 'image-skill.db'}",
        tmp_path,
        {"IMAGE_SKILL_HOME": str(data_dir)},
    )
    try:
        url = served.base_url + urllib.parse.urlsplit(link).path
        assert page(url)[0] == 200
        assert confirm(url)[0] == 200
    finally:
        stop_server(served)
    me = expect(run("whoami", "--json"), 0)
    assert me["actor"]["actor_id"] == agent["actor_id"]
    assert me["actor"]["claim_state"] == "claimed"
    assert me["data"]["claim"]["human_email"] == "m***@example.com"
