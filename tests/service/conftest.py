"""Service-level fixtures: the real app in-process through Starlette's TestClient."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fastapi import FastAPI

from image_skill.server import create_server_app
from tests.fakes.stripe_api import FakeStripe
from tests.support.agents import Signup
from tests.support.apps import service_settings
from tests.support.envelopes import assert_envelope
from tests.support.plugins import counting
from tests.support.stripe_shop import SECRET_KEY

with warnings.catch_warnings():
    # Starlette nags about httpx vs httpx2 on import; the client works either way.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture
def api_app(database_url: str, tmp_path: Path) -> FastAPI:
    """A fresh app (not started) on a blank database of each kind."""
    return create_server_app(service_settings(database_url, tmp_path / "service-home"))


@pytest.fixture
def api(api_app: FastAPI) -> Iterator[TestClient]:
    """A started app (lifespan ran: migrations + engine) and a client for it."""
    with TestClient(api_app) as client:
        yield client


@pytest.fixture
def signup(api: TestClient) -> Signup:
    """``signup(email, name, **extra)`` -> the success envelope (asserts 200/201)."""

    def run(
        email: str = "human@example.com",
        name: str = "bot",
        *,
        token: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "human_email": email,
            "agent_name": name,
            "runtime": "pytest",
            "return_token": True,
        }
        body.update(extra)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = api.post("/v1/agent-signups", json=body, headers=headers)
        assert response.status_code in (200, 201), response.text
        envelope: dict[str, Any] = response.json()
        assert_envelope(envelope, ok=True)
        return envelope

    return run


@pytest.fixture
def counting_plugin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ModuleType]:
    """The counting provider registered for every app this test builds, unregistered after."""
    with counting(monkeypatch, tmp_path) as module:
        yield module


# Payment settings a developer's shell may carry; payment tests start from none of them.
PAYMENT_ENV = (
    "IMAGE_SKILL_STRIPE_SECRET_KEY",
    "STRIPE_SECRET_KEY",
    "IMAGE_SKILL_STRIPE_WEBHOOK_SECRET",
    "STRIPE_WEBHOOK_SECRET",
    "IMAGE_SKILL_STRIPE_API_BASE",
    "IMAGE_SKILL_FAKE_PAYMENTS_ENABLED",
    "IMAGE_SKILL_ALLOW_FAKE_PAYMENTS_IN_PRODUCTION",
)


@pytest.fixture
def no_ambient_payment_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset every payment variable for the test (use with ``pytest.mark.usefixtures``)."""
    for name in PAYMENT_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    """A fake Stripe API on loopback that speaks the SDK's wire format."""
    with FakeStripe(SECRET_KEY) as fake:
        yield fake
