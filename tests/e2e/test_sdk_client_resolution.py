"""``Client()`` finds its service and token exactly as the CLI does (issue 13).

The CLI saves a token for a real server with ``signup --save``; an SDK client built
with no arguments in the same environment must act as that same agent, and the
environment variables must win over the saved config in the same order as in the
CLI. Explicit arguments (``Client(None)``, a transport) still mean what they say.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from image_skill import Client
from image_skill.connection import config_matches_base
from tests.support.agents import cli_sign_up
from tests.support.cli import RunCli, checked_until_teardown, expect
from tests.support.servers import Server, running_server


@pytest.fixture
def sqlite_server(tmp_path: Path) -> Iterator[Server]:
    """``image-skill serve`` on SQLite."""
    with running_server(f"sqlite:///{tmp_path / 'server.db'}", tmp_path) as server:
        yield server


@pytest.fixture
def run(cli: RunCli, request: pytest.FixtureRequest) -> Iterator[RunCli]:
    yield from checked_until_teardown(cli, request)


def test_client_with_no_arguments_uses_the_saved_config_like_the_cli(
    run: RunCli, sqlite_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = cli_sign_up(run, sqlite_server.base_url)  # --save: the config names the server
    cli_actor = expect(run("whoami", "--json"), 0)["actor"]
    assert cli_actor == agent.actor
    with Client() as client:
        assert client.base_url == sqlite_server.base_url and client.token == agent.token
        assert not client.embedded
        assert client.whoami().envelope["actor"] == cli_actor

    # The environment wins over the config, in the CLI's order.
    other = cli_sign_up(run, sqlite_server.base_url, name="second-bot", save=False)
    monkeypatch.setenv("IMAGE_SKILL_TOKEN", other.token)
    with Client() as client:
        assert client.whoami().envelope["actor"] == other.actor
    assert expect(run("whoami", "--json"), 0)["actor"] == other.actor

    # A saved token is never sent to another service: a different base gets no token.
    monkeypatch.delenv("IMAGE_SKILL_TOKEN")
    monkeypatch.setenv("IMAGE_SKILL_API_BASE_URL", sqlite_server.base_url + "/elsewhere")
    with Client() as client:
        assert client.token is None

    # Explicit arguments mean what they say: Client(None) is embedded, a URL is that URL.
    monkeypatch.delenv("IMAGE_SKILL_API_BASE_URL")
    with Client(None) as client:
        assert client.embedded and client.base_url is None
        assert client.token is None  # the config's token belongs to the server
        assert client.whoami().envelope["actor"]["actor_type"] == "human"  # the local owner
    with Client(sqlite_server.base_url) as client:
        assert client.token == agent.token  # the token saved for that same service


def test_a_config_without_a_service_or_with_a_broken_one_matches_nothing() -> None:
    assert not config_matches_base({"token": "isk_r_x"}, None)
    assert not config_matches_base({"token": "isk_r_x", "api_base_url": "ftp://x"}, None)
    assert config_matches_base({"api_base_url": "http://h:1/"}, "http://h:1")
