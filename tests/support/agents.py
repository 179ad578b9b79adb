"""Signed-up agents: one talking to the app in-process, one acting through the CLI.

The two are different things: an ``Agent`` carries the TestClient it posts through,
a ``CliAgent`` only the token a CLI process picks up from its environment.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from httpx import Response

from tests.support.cli import RunCli, expect
from tests.support.images import upload_body

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

# The ``signup`` fixture: ``signup(email, name, **extra)`` -> the success envelope.
Signup = Callable[..., dict[str, Any]]


@dataclass
class Agent:
    """A signed-up agent and the client it talks through (in-process or a real server)."""

    client: TestClient | httpx.Client
    token: str
    actor_id: str
    organization_id: str

    @property
    def headers(self) -> dict[str, str]:
        """The agent's bearer token as request headers."""
        return {"Authorization": f"Bearer {self.token}"}

    def post(self, path: str, body: dict[str, Any], *, key: str | None = None) -> Response:
        """POST ``body`` as this agent (with an ``Idempotency-Key`` if given)."""
        headers = dict(self.headers)
        if key is not None:
            headers["Idempotency-Key"] = key
        return self.client.post(path, json=body, headers=headers)

    def get(self, path: str, **kwargs: Any) -> Response:
        """GET ``path`` as this agent."""
        return self.client.get(path, headers=self.headers, **kwargs)

    def create(self, key: str | None = None, **body: Any) -> Response:
        """POST /v1/create with a default prompt."""
        return self.post("/v1/create", {"prompt": "a quiet harbour", **body}, key=key)

    def edit(self, key: str | None = None, **body: Any) -> Response:
        """POST /v1/edit."""
        return self.post("/v1/edit", body, key=key)

    def upload(self, data: bytes, **overrides: Any) -> Response:
        """POST /v1/upload of ``data``."""
        return self.post("/v1/upload", upload_body(data, **overrides))

    def quota(self) -> dict[str, Any]:
        """The data of GET /v1/quota."""
        response = self.get("/v1/quota")
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()["data"]
        return data


def sign_up(client: TestClient, email: str = "human@example.com", name: str = "bot") -> Agent:
    """A new unclaimed agent in an organization of its own (whatever the email)."""
    body = {"human_email": email, "agent_name": name, "runtime": "pytest", "return_token": True}
    response = client.post("/v1/agent-signups", json=body)
    assert response.status_code in (200, 201), response.text
    envelope = response.json()
    actor = envelope["actor"] or envelope["data"]["actor"]
    return Agent(client, envelope["data"]["token"], actor["actor_id"], actor["organization_id"])


@dataclass
class CliAgent:
    """An agent signed up through the CLI: its token and actor."""

    token: str
    actor: dict[str, Any]

    @property
    def env(self) -> dict[str, str]:
        """Env that makes a CLI act as this agent (the token wins over the saved config)."""
        return {"IMAGE_SKILL_TOKEN": self.token}


def cli_sign_up(
    run: RunCli,
    base_url: str,
    *,
    email: str = "owner@example.com",
    name: str = "e2e-bot",
    save: bool = True,
) -> CliAgent:
    """``signup --agent [--save]``: with ``save`` the config now points at ``base_url``."""
    args = ["--human-email", email, "--agent-name", name, "--api-base-url", base_url]
    if save:
        args.append("--save")
    result = run("signup", "--agent", *args, "--show-token", "--json")
    envelope = expect(result, 0)
    assert envelope["actor"]["claim_state"] == "unclaimed"
    return CliAgent(envelope["data"]["token"], envelope["actor"])
