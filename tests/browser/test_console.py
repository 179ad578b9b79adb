"""The console in a real browser against a real server: the human's whole path.

A real ``image-skill serve`` mails through a real SMTP server on loopback; the
agent is the real CLI; the human is headless Chromium. The human claims the
agent from the emailed link, signs in to the console from another emailed
link, finds the agent's image in the gallery, opens it, sees the spend, and
revokes the agent's token, after which the agent's next CLI call is refused.
With ``IMAGE_SKILL_UPDATE_SCREENSHOTS=1`` the pages are also saved to
``docs/screenshots/``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.agents import cli_sign_up
from tests.support.cli import RunCli, checked_until_teardown
from tests.support.cli import expect as expect_cli
from tests.support.databases import blank_database
from tests.support.inbox import Inbox, smtp_inbox
from tests.support.plugins import REPO_ROOT, plugin_env
from tests.support.servers import Server, start_server, stop_server

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CLAIM_LINK = re.compile(r"https?://\S+/claim/[A-Za-z0-9_-]{32,64}")
SIGN_IN_LINK = re.compile(r"https?://\S+/console/sign-in/[A-Za-z0-9_-]{32,64}")
COUNTING_CREDITS = 8  # test.counting: $0.04 per image x markup 2
SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    with smtp_inbox() as running:
        yield running


@pytest.fixture
def server(tmp_path: Path, inbox: Inbox) -> Iterator[Server]:
    """``image-skill serve`` on SQLite with the priced test model, mailing to ``inbox``."""
    with blank_database("sqlite", tmp_path) as url:
        env = {**inbox.server_env(), **plugin_env(tmp_path / "provider-calls.log")}
        running = start_server(url, tmp_path, env)
        yield running
        stop_server(running)


@pytest.fixture
def run(cli: RunCli, request: pytest.FixtureRequest) -> Iterator[RunCli]:
    yield from checked_until_teardown(cli, request)


def shot(page: Page, name: str, tmp_path: Path) -> None:
    """A full-page screenshot (kept in docs/screenshots when asked to update them)."""
    target = tmp_path / f"{name}.png"
    page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 1000
    if os.environ.get("IMAGE_SKILL_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / f"console-{name}.png").write_bytes(target.read_bytes())


def test_a_human_claims_signs_in_sees_and_revokes(
    browser: Browser, server: Server, inbox: Inbox, run: RunCli, tmp_path: Path
) -> None:
    base = server.base_url
    agent = cli_sign_up(run, base, email="owner@example.com", name="painter")
    stranger = cli_sign_up(run, base, email="stranger@example.com", name="other", save=False)

    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()

    # The human claims the agent from the emailed link.
    sent = len(inbox.messages)
    expect_cli(run("claim", "request", "--json"), 0)
    page.goto(inbox.wait_for_link(CLAIM_LINK, after=sent))
    expect(page.get_by_text("painter").first).to_be_visible()
    page.get_by_role("button", name="Confirm and claim this agent").click()
    expect(page.get_by_role("heading", name="Agent claimed")).to_be_visible()

    # The agent makes an image (priced), the stranger one of its own.
    made = expect_cli(
        run("create", "--prompt", "a lighthouse at dusk", "--model", "test.counting", "--json"),
        0,
    )["data"]
    asset_id, job_id = made["assets"][0]["asset_id"], made["job_id"]
    assert made["quota"]["credits_debited"] == COUNTING_CREDITS
    spent = COUNTING_CREDITS
    for prompt in ("a sailing boat at noon", "a fox in the snow"):  # the default local model
        more = expect_cli(run("create", "--prompt", prompt, "--json"), 0)["data"]
        spent += more["quota"]["credits_debited"]
    theirs = expect_cli(
        run(
            "create",
            "--prompt",
            "a red barn",
            "--model",
            "test.counting",
            "--json",
            env=stranger.env,
        ),
        0,
    )["data"]["assets"][0]["asset_id"]

    # Sign in through the emailed link.
    page.goto(f"{base}/console")
    shot(page, "home", tmp_path)
    sent = len(inbox.messages)
    page.get_by_placeholder("you@example.com").fill("owner@example.com")
    page.get_by_role("button", name="Email me a sign-in link").click()
    expect(page.get_by_role("heading", name="Check your inbox")).to_be_visible()
    page.goto(inbox.wait_for_link(SIGN_IN_LINK, after=sent))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Gallery")).to_be_visible()
    cookie = next(c for c in context.cookies() if c["name"] == "isk_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"

    # The agent's image is in the gallery (its thumbnail, made on this first view, loaded);
    # the stranger's is not.
    tile = page.locator(f'a[href="/console/assets/{asset_id}"]')
    expect(tile).to_be_visible()
    loaded = "img => img.complete && img.naturalWidth > 0"
    page.wait_for_function(loaded, arg=tile.locator("img").element_handle(), timeout=10_000)
    assert page.locator(f'a[href="/console/assets/{theirs}"]').count() == 0
    shot(page, "gallery", tmp_path)
    tile.click()
    expect(page.get_by_text(job_id)).to_be_visible()
    assert page.locator("main img").evaluate("img => img.naturalWidth") > 0

    # The spend shows on the credits page.
    page.goto(f"{base}/console/credits")
    expect(
        page.locator("svg.chart rect title", has_text=f": {spent} credits").first
    ).to_be_attached()
    expect(page.locator(".stats")).to_contain_text(str(spent))
    shot(page, "credits", tmp_path)

    # Another organization's asset is not found; a form without its CSRF token is refused.
    assert page.goto(f"{base}/console/assets/{theirs}").status == 404  # type: ignore[union-attr]
    refused = context.request.post(
        f"{base}/console/agents/{agent.actor['actor_id']}/revoke", form={}
    )
    assert refused.status == 403
    expect_cli(run("whoami", "--json"), 0)

    # Revoking from the agents page: the agent's next CLI call is refused.
    page.goto(f"{base}/console/agents")
    row = page.locator("tr", has_text="painter")
    row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("heading", name="Token revoked")).to_be_visible()
    expect_cli(run("whoami", "--json"), 3, "TOKEN_REVOKED")
    expect_cli(run("whoami", "--json", env=stranger.env), 0)

    # Signing out ends the session: the gallery sends the browser back to the door.
    page.goto(f"{base}/console/agents")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Signed out")).to_be_visible()
    page.goto(f"{base}/console/gallery")
    expect(page.get_by_role("button", name="Email me a sign-in link")).to_be_visible()
    context.close()
