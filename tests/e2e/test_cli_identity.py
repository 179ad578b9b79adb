"""signup, whoami, ``usage quota`` and ``quota`` through the real CLI.

Against ``image-skill serve`` (SQLite and PostgreSQL) and in embedded mode.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from image_skill.contract.tokens import is_well_formed, redact
from tests.support.cli import RunCli, checked_until_teardown, expect
from tests.support.servers import Server, free_port

RESET_RE = re.compile(r"^\d{4}-\d\d-\d\dT00:00:00\.000Z$")


@pytest.fixture
def run(cli: RunCli, request: pytest.FixtureRequest) -> Iterator[RunCli]:
    """``cli``, checked: no traceback anywhere; no token on stderr or in the server log."""
    yield from checked_until_teardown(cli, request)


def signup(*extra: str, email: str = "h@example.com", name: str = "bot") -> tuple[str, ...]:
    return ("signup", "--agent", "--human-email", email, "--agent-name", name, *extra)


def config_file(home: Path) -> Path:
    return home / "config" / "config.json"


def test_signup_whoami_quota_and_rotation_against_server(
    server: Server, run: RunCli, isolated_home: Path
) -> None:
    base = ("--api-base-url", server.base_url, "--json")
    config = config_file(isolated_home)

    first = run(*signup("--save", "--runtime", "codex"), *base)
    envelope = expect(first, 0)
    data, agent = envelope["data"], envelope["actor"]
    assert config.stat().st_mode & 0o777 == 0o600
    saved = json.loads(config.read_text())
    token = saved["token"]
    assert is_well_formed(token) and saved["api_base_url"] == server.base_url
    assert token not in first.stdout
    assert data["token"] is None and data["token_redacted"] == redact(token)
    assert data["token_saved"] is True and data["config_path"] == str(config)
    assert data["rotated"] is False and data["agent"]["runtime"] == "codex"
    assert agent["actor_type"] == "agent" and agent["claim_state"] == "unclaimed"
    assert agent["actor_id"].startswith("agt_") and agent["organization_id"].startswith("org_")
    assert data["actor"] == agent and "storage" in data

    who = expect(run("whoami", *base), 0)
    assert who["actor"] == agent and who["command"] == "image-skill whoami"
    assert who["data"]["token_class"] == "restricted_agent"
    assert who["data"]["local_owner"] is False

    usage = expect(run("usage", "quota", *base), 0)
    alias = expect(run("quota", *base), 0)
    assert (usage["command"], alias["command"]) == ("image-skill usage quota", "image-skill quota")
    assert usage["actor"] == alias["actor"] == agent
    assert usage["data"].pop("as_of") <= alias["data"].pop("as_of")
    assert usage["data"] == alias["data"]
    assert usage["data"]["credits"]["balance"] == 10
    jobs = usage["data"]["jobs"]
    assert (jobs["daily_cap"], jobs["used_today"], jobs["remaining_today"]) == (2, 0, 2)
    assert RESET_RE.match(jobs["resets_at"])

    # Re-signup with the saved token as proof rotates: --show-token prints the new token
    # exactly once and saves nothing.
    shown = run(*signup("--show-token"), *base)
    rotated = expect(shown, 0)
    new = rotated["data"]["token"]
    assert is_well_formed(new) and new != token and shown.stdout.count(new) == 1
    assert rotated["data"]["rotated"] is True and rotated["actor"] == agent
    assert any("shown once" in warning for warning in rotated["warnings"])
    assert json.loads(config.read_text())["token"] == token

    revoked = expect(run("whoami", *base), 3, "TOKEN_REVOKED")
    assert revoked["error"]["recovery"]["suggested_command"].startswith("image-skill ")
    assert expect(run("whoami", *base, env={"IMAGE_SKILL_TOKEN": new}), 0)["actor"] == agent

    # --save --show-token with the current token as proof: both, and that token stops working.
    both = expect(run(*signup("--save", "--show-token"), *base, env={"IMAGE_SKILL_TOKEN": new}), 0)
    assert both["data"]["rotated"] is True and both["actor"] == agent
    assert json.loads(config.read_text())["token"] == both["data"]["token"] != new
    expect(run("quota", *base, env={"IMAGE_SKILL_TOKEN": new}), 3, "TOKEN_REVOKED")
    assert expect(run("quota", *base), 0)["actor"] == agent


BAD_SIGNUP_VALUES = [
    ("not-an-email", "bot", "human_email"),
    ("h@localhost", "bot", "human_email"),
    ("x" * 250 + "@example.com", "bot", "human_email"),
    ("h@example.com", "   ", "agent_name"),
    ("h@example.com", "x" * 101, "agent_name"),
    ("h@example.com", "bad\nname", "agent_name"),
]


def test_signup_refuses_bad_values_against_server(
    server: Server, run: RunCli, isolated_home: Path
) -> None:
    base = ("--api-base-url", server.base_url, "--json")
    for email, name, field in BAD_SIGNUP_VALUES:
        envelope = expect(
            run(*signup("--save", email=email, name=name), *base), 2, "INVALID_ARGUMENTS"
        )
        assert envelope["error"]["details"]["field"] == field, (email, name)
    assert not config_file(isolated_home).exists()
    # Nothing was created: the first valid signup is not a rotation.
    assert expect(run(*signup("--show-token"), *base), 0)["data"]["rotated"] is False


@pytest.mark.parametrize("hosted", [True, False], ids=["hosted", "embedded"])
@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (("signup", "--human-email", "h@example.com", "--agent-name", "bot", "--save"), "--agent"),
        (("signup", "--agent", "--agent-name", "bot", "--save"), "--human-email"),
        (
            ("signup", "--agent", "--human-email", "", "--agent-name", "b", "--save"),
            "--human-email",
        ),
        (("signup", "--agent", "--human-email", "h@example.com", "--save"), "--agent-name"),
        (signup("--save", name=""), "--agent-name"),
        (signup(), "--save"),
    ],
    ids=["agent", "email", "empty-email", "name", "empty-name", "save-or-show"],
)
def test_signup_missing_flag(
    run: RunCli, isolated_home: Path, args: tuple[str, ...], flag: str, hosted: bool
) -> None:
    # The check happens before any request: an unreachable service would answer exit 7.
    where = ("--api-base-url", f"http://127.0.0.1:{free_port()}") if hosted else ()
    envelope = expect(run(*args, *where, "--json"), 2, "INVALID_ARGUMENTS")
    assert envelope["error"]["recovery"]["required_flag"] == flag
    assert envelope["command"] == "image-skill signup"
    assert not config_file(isolated_home).exists()


def test_signup_save_with_unwritable_config_keeps_current_token(
    server: Server, run: RunCli, tmp_path: Path
) -> None:
    base = ("--api-base-url", server.base_url, "--json")
    token = expect(run(*signup("--show-token"), *base), 0)["data"]["token"]
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    unwritable = {"IMAGE_SKILL_CONFIG_PATH": str(blocker / "config.json")}
    failed = expect(run(*signup("--save"), *base, env=unwritable), 9, "LOCAL_FILE_ERROR")
    assert failed["error"]["retryable"] is False
    # Signup was not attempted, so the current token was not rotated away.
    expect(run("whoami", *base, env={"IMAGE_SKILL_TOKEN": token}), 0)


def test_embedded_identity(run: RunCli, isolated_home: Path) -> None:
    config = config_file(isolated_home)
    owner = expect(run("whoami", "--json"), 0)
    assert owner["actor"]["claim_state"] == "claimed" and owner["data"]["local_owner"] is True
    unlimited = expect(run("quota", "--json"), 0)["data"]
    assert unlimited["jobs"]["daily_cap"] is None and unlimited["limits"]["unlimited"] is True

    first = run(*signup("--save"), "--json")
    agent = expect(first, 0)["actor"]
    assert (
        agent["actor_type"] == "agent"
        and agent["organization_id"] != owner["actor"]["organization_id"]
    )
    saved = json.loads(config.read_text())
    assert saved["api_base_url"] is None and config.stat().st_mode & 0o777 == 0o600
    assert saved["token"] not in first.stdout

    assert expect(run("whoami", "--json"), 0)["actor"] == agent  # the saved token is used

    again = expect(run(*signup("--save"), "--json"), 0)
    assert again["data"]["rotated"] is True and again["actor"] == agent
    assert json.loads(config.read_text())["token"] != saved["token"]
    old = {"IMAGE_SKILL_TOKEN": saved["token"]}
    expect(run("whoami", "--json", env=old), 3, "TOKEN_REVOKED")

    expect(run("auth", "logout", "--json"), 0)
    assert not config.exists()
    assert expect(run("whoami", "--json"), 0)["actor"] == owner["actor"]
