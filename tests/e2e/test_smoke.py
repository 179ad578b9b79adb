"""The first-run path through the real CLI, against a real server and embedded."""

from __future__ import annotations

from tests.support.cli import RunCli
from tests.support.envelopes import assert_envelope
from tests.support.servers import Server


def test_signup_whoami_quota_against_server(server: Server, cli: RunCli) -> None:
    base = ["--api-base-url", server.base_url, "--json"]
    signup = cli(
        "signup",
        "--agent",
        "--human-email",
        "h@example.com",
        "--agent-name",
        "bot",
        "--save",
        *base,
    )
    assert signup.exit_code == 0, signup.stdout + signup.stderr
    assert_envelope(signup.envelope, ok=True)
    assert signup.data["token"] is None
    who = cli("whoami", *base)
    assert who.exit_code == 0, who.stdout
    assert who.envelope["actor"]["actor_type"] == "agent"
    quota = cli("usage", "quota", *base)
    assert quota.data["jobs"]["daily_cap"] == 2
    assert quota.data["credits"]["balance"] == 10


def test_embedded_whoami_is_local_owner(cli: RunCli) -> None:
    who = cli("whoami", "--json")
    assert who.exit_code == 0, who.stdout + who.stderr
    assert_envelope(who.envelope, ok=True)
    assert who.envelope["actor"]["claim_state"] == "claimed"
    assert who.data["local_owner"] is True
