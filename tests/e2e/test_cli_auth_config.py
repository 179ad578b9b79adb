"""``auth status|save|logout``, token and service resolution, and where a saved token goes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from image_skill.contract.tokens import generate_token, redact
from tests.support.cli import TOKEN_RE, CliRun, RunCli, checked_until_teardown, expect
from tests.support.servers import Server, free_port, start_server, stop_server

SIGNUP = ("signup", "--agent", "--human-email", "a@example.com", "--agent-name", "auth-bot")


@pytest.fixture
def run(cli: RunCli, request: pytest.FixtureRequest) -> Iterator[RunCli]:
    """``cli``, checked: no traceback anywhere; no token on stderr or in the server log."""
    yield from checked_until_teardown(cli, request)


def signup_saved(run: RunCli, base_url: str, config: Path) -> tuple[str, dict[str, Any]]:
    """Sign up with --save; the token (read from the config) and the actor."""
    envelope = expect(run(*SIGNUP, "--save", "--api-base-url", base_url, "--json"), 0)
    return json.loads(config.read_text())["token"], envelope["actor"]


@pytest.fixture
def config(isolated_home: Path) -> Path:
    return isolated_home / "config" / "config.json"


def test_auth_status_save_logout(server: Server, run: RunCli, config: Path) -> None:
    base = ("--api-base-url", server.base_url, "--json")
    missing = expect(run("auth", "status", *base), 3, "AUTH_REQUIRED")
    assert "signup" in missing["error"]["recovery"]["suggested_command"]

    shown = expect(run(*SIGNUP, "--show-token", *base), 0)
    token, agent = shown["data"]["token"], shown["actor"]
    assert not config.exists()

    # Refusals, none of which writes the config.
    no_token = expect(run("auth", "save", *base), 2, "INVALID_ARGUMENTS")
    assert no_token["error"]["recovery"]["required_flag"] == "--token-stdin"
    # A malformed token is refused before it is sent anywhere (no service needed).
    nowhere = f"http://127.0.0.1:{free_port()}"
    for malformed in ("not-a-token", token[:-1] + ("b" if token[-1] == "a" else "a")):
        local = run("auth", "save", "--token", malformed, "--api-base-url", nowhere, "--json")
        assert "not an Image Skill token" in expect(local, 3, "AUTH_INVALID")["error"]["message"]
    unknown = run("auth", "save", "--token-stdin", *base, stdin=generate_token() + "\n")
    assert "valid for this service" in expect(unknown, 3, "AUTH_INVALID")["error"]["message"]
    assert not config.exists()

    saved = run("auth", "save", "--token-stdin", *base, stdin=token + "\n")
    data = expect(saved, 0)["data"]
    assert token not in saved.stdout
    assert data["saved"] is True and data["token"] == redact(token) and data["actor"] == agent
    assert config.stat().st_mode & 0o777 == 0o600
    assert json.loads(config.read_text())["token"] == token
    assert json.loads(config.read_text())["api_base_url"] == server.base_url

    status = expect(run("auth", "status", *base), 0)
    assert status["actor"] == agent
    assert {k: status["data"][k] for k in ("verified", "token_source", "token", "mode")} == {
        "verified": True,
        "token_source": "config",
        "token": redact(token),
        "mode": "server",
    }
    assert status["data"]["token_class"] == "restricted_agent"
    # A saved token is not a token to save.
    expect(run("auth", "save", *base), 2, "INVALID_ARGUMENTS")

    logout = expect(run("auth", "logout", *base), 0)["data"]
    assert logout == {"logged_out": True, "had_saved_token": True, "config_removed": True}
    assert not config.exists()
    expect(run("auth", "status", *base), 3, "AUTH_REQUIRED")
    again = expect(run("auth", "logout", *base), 0)["data"]
    assert again == {"logged_out": True, "had_saved_token": False, "config_removed": False}
    for name in ("IMAGE_SKILL_TOKEN", "IMAGE_SKILL_HOSTED_TOKEN"):
        still = expect(run("auth", "logout", *base, env={name: token}), 0)["warnings"]
        assert still == [f"{name} is still set in the environment and will be used."]

    # A token that was valid but is revoked fails auth status and cannot be saved.
    rotated = expect(run(*SIGNUP, "--save", *base, env={"IMAGE_SKILL_TOKEN": token}), 0)
    assert rotated["data"]["rotated"] is True
    expect(run("auth", "status", *base, env={"IMAGE_SKILL_TOKEN": token}), 3, "TOKEN_REVOKED")
    expect(run("auth", "save", *base, env={"IMAGE_SKILL_TOKEN": token}), 3, "TOKEN_REVOKED")
    assert json.loads(config.read_text())["token"] != token


# Highest priority first; each place as (CLI args, env var).
PLACES = ("stdin", "flag", "IMAGE_SKILL_TOKEN", "IMAGE_SKILL_HOSTED_TOKEN", "config")
SOURCE = {"stdin": "stdin", "flag": "flag", "config": "config"}


def status_with(run: RunCli, server: Server, config: Path, tokens: dict[str, str]) -> CliRun:
    """``auth status`` with ``tokens`` placed as named by PLACES."""
    config.write_text(json.dumps({"api_base_url": server.base_url, "token": tokens["config"]}))
    args = ["auth", "status", "--api-base-url", server.base_url, "--json"]
    if "stdin" in tokens:
        args.append("--token-stdin")
    if "flag" in tokens:
        args += ["--token", tokens["flag"]]
    env = {name: tokens[name] for name in PLACES[2:4] if name in tokens}
    return run(*args, stdin=tokens.get("stdin", "") + "\n", env=env)


def test_token_resolution_order(server: Server, run: RunCli, config: Path) -> None:
    good, agent = signup_saved(run, server.base_url, config)
    bad = generate_token()  # well formed, unknown to the service: AUTH_INVALID if it is used
    for rank, winner in enumerate(PLACES):
        losers = PLACES[rank + 1 :]
        placed = {winner: good, **{place: bad for place in losers}}
        placed.setdefault("config", bad)
        envelope = expect(status_with(run, server, config, placed), 0)
        assert envelope["actor"] == agent, winner
        assert envelope["data"]["token_source"] == SOURCE.get(winner, "env")
        assert envelope["data"]["token"] == redact(good)
        if losers:  # and the winner is used even when it is the bad one
            placed = {winner: bad, losers[0]: good, "config": good}
            expect(status_with(run, server, config, placed), 3, "AUTH_INVALID")


def test_service_resolution_order(server: Server, run: RunCli, config: Path) -> None:
    token, agent = signup_saved(run, server.base_url, config)
    nowhere = f"http://127.0.0.1:{free_port()}"
    cases = [  # (flag, IMAGE_SKILL_API_BASE_URL) -> expected source, or None if unreachable
        ((), None, "config"),
        ((), server.base_url, "env"),
        (("--api-base-url", server.base_url), nowhere, "flag"),
        ((), nowhere, None),
        (("--api-base-url", nowhere), server.base_url, None),
    ]
    for flag, env_base, source in cases:
        env = {"IMAGE_SKILL_API_BASE_URL": env_base} if env_base else {}
        # The config's token is tied to the config's service; give an env token instead
        # so reaching the unreachable service is what fails.
        env["IMAGE_SKILL_TOKEN"] = token
        result = run("auth", "status", *flag, "--json", env=env)
        if source is None:
            expect(result, 7, "HOSTED_API_REQUEST_FAILED")
            continue
        data = expect(result, 0)["data"]
        assert (data["api_base_url"], data["api_base_url_source"]) == (server.base_url, source)
        assert data["token_source"] == "env"
    status = expect(run("whoami", "--json"), 0)  # service and token both from the config
    assert status["actor"] == agent
    bad_url = expect(run("whoami", "--api-base-url", "ftp://x", "--json"), 2, "INVALID_ARGUMENTS")
    assert bad_url["error"]["details"]["field"] == "api_base_url"


def test_saved_token_is_never_sent_to_another_server(
    server: Server, run: RunCli, config: Path, database_url: str, tmp_path: Path
) -> None:
    token, agent = signup_saved(run, server.base_url, config)
    # B shares A's database, so A's token *would* work there: AUTH_REQUIRED (not success,
    # not AUTH_INVALID) proves the CLI did not send it.
    (tmp_path / "b").mkdir()
    other = start_server(database_url, tmp_path / "b")
    try:
        ways_to_b = [
            (("--api-base-url", other.base_url), {}),
            ((), {"IMAGE_SKILL_API_BASE_URL": other.base_url}),
        ]
        for flag, env in ways_to_b:
            for command in (("whoami",), ("usage", "quota"), ("auth", "status")):
                expect(run(*command, *flag, "--json", env=env), 3, "AUTH_REQUIRED")
            doctor = expect(run("doctor", *flag, "--json", env=env), 0)["data"]
            assert {c["name"]: c["status"] for c in doctor["checks"]}["auth"] == "warn"
        # Control: given explicitly, the same token works on B.
        explicit = {"IMAGE_SKILL_TOKEN": token}
        assert (
            expect(run("whoami", "--api-base-url", other.base_url, "--json", env=explicit), 0)[
                "actor"
            ]
            == agent
        )
        # Nor is a token saved in embedded mode (no service), or one whose service is unknown.
        for unbound in ({"api_base_url": None, "token": token}, {"token": token}):
            config.write_text(json.dumps(unbound))
            whoami = run("whoami", "--api-base-url", server.base_url, "--json")
            expect(whoami, 3, "AUTH_REQUIRED")
        assert not TOKEN_RE.search(other.log())
    finally:
        stop_server(other)
