"""Provider clients are built once per configuration and reused (providers/clients.py).

Through the real service against a keep-alive fake OpenAI: two creates share
one SDK client and one TCP connection. Directly: the same key and base URL give
the same client, a rotated key or a moved base URL a new one, each event loop
its own, and ``aclose_clients`` closes them.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from image_skill.providers.clients import aclose_clients, cached_count
from image_skill.providers.openai_images import OPENAI
from tests.fakes.counting_images import CountingImagesAPI
from tests.fakes.openai_api import adapter_app, signup_headers

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

KEY = "sk-test-reuse-SECRET"


@pytest.fixture
def fake() -> Iterator[CountingImagesAPI]:
    with CountingImagesAPI(KEY).running() as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def api(
    fake: CountingImagesAPI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[TestClient]:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
    with adapter_app(tmp_path, 10.0) as client:
        yield client


def create(api: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    body = {"prompt": "a lighthouse at dusk", "model": "openai.gpt-image-1-mini"}
    response = api.post("/v1/create", json=body, headers=headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def test_two_creates_share_one_client_and_one_connection(
    api: TestClient, fake: CountingImagesAPI
) -> None:
    headers = signup_headers(api)
    first = create(api, headers)
    second = create(api, headers)
    assert first["job_id"] != second["job_id"]
    assert len(fake.requests) == 2
    assert fake.connections == 1  # the second create rode the first one's connection


def test_the_same_configuration_reuses_a_client_and_a_changed_one_builds_another(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")

    async def scenario() -> None:
        first = OPENAI.client()
        assert OPENAI.client() is first
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-rotated")
        rotated = OPENAI.client()
        assert rotated is not first and rotated.api_key == "sk-test-rotated"
        monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:10/v1")
        moved = OPENAI.client()
        assert moved not in (first, rotated) and str(moved.base_url).startswith(
            "http://127.0.0.1:10/"
        )
        assert cached_count() == 3
        await aclose_clients()
        assert cached_count() == 0
        assert first.is_closed() and rotated.is_closed() and moved.is_closed()

    asyncio.run(scenario())


def test_each_event_loop_gets_its_own_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")

    async def client_of_this_loop() -> object:
        client = OPENAI.client()
        await aclose_clients()
        return client

    # A pool's connections belong to the loop that opened them: never shared across loops.
    assert asyncio.run(client_of_this_loop()) is not asyncio.run(client_of_this_loop())
