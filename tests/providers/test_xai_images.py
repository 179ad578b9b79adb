"""The xAI Grok Imagine adapter, driven through the real service against a fake xAI.

xAI's endpoint is OpenAI-compatible, so the same fake server plays it
(``XAI_BASE_URL``); the price is unknown, so every create confirms it.
"""

from __future__ import annotations

import hashlib
import warnings
from typing import Any

import pytest
from httpx import Response

from image_skill.contract.envelope import EXIT_CODE_HEADER
from tests.fakes.openai_api import (
    FakeImagesAPI,
    Reply,
    adapter_fixtures,
    balance,
    error_body,
    failed,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

KEY = "xai-test-SECRET-never-shown"
MODEL = "xai.grok-imagine-image"
SHORT_TIMEOUT = 1.0  # for the slow-upstream test only
HOLD = 25  # unknown_cost_hold_credits


fake, upstream_timeout, api, headers = adapter_fixtures(KEY, "XAI_API_KEY", "XAI_BASE_URL")


def create(api: TestClient, headers: dict[str, str], **body: Any) -> Response:
    payload = {"prompt": "a red fox", "model": MODEL, "accept_unknown_cost": True, **body}
    return api.post("/v1/create", json=payload, headers=headers)


def test_create_stores_the_image_and_sends_xai_fields(
    api: TestClient, headers: dict[str, str], fake: FakeImagesAPI
) -> None:
    before = balance(api, headers)
    response = create(api, headers, aspect_ratio="16:9", model_parameters={"resolution": "2k"})
    assert response.status_code == 201, response.text
    assert response.headers[EXIT_CODE_HEADER] == "0"
    data = response.json()["data"]
    for secret in (KEY, fake.base_url, "b64_json"):
        assert secret not in response.text
    (sent,) = fake.requests
    assert sent.path == "/v1/images/generations"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.json == {
        "model": "grok-imagine-image",
        "prompt": "a red fox",
        "n": 1,
        "response_format": "b64_json",
        "aspect_ratio": "16:9",
        "resolution": "2k",
    }
    (asset,) = data["assets"]
    stored = api.get(asset["url"])
    assert stored.status_code == 200
    assert hashlib.sha256(stored.content).hexdigest() == asset["sha256"]
    assert data["cost"]["credit_pricing"]["pricing_confidence"] == "unknown"
    assert balance(api, headers) == before - HOLD


def test_unknown_price_needs_confirmation_before_any_call(
    api: TestClient, headers: dict[str, str], fake: FakeImagesAPI
) -> None:
    failed(create(api, headers, accept_unknown_cost=False), "BUDGET_REQUIRES_CONFIRMATION", 4)
    failed(
        create(api, headers, model_parameters={"quality": "high"}), "MODEL_PARAMETERS_INVALID", 2
    )
    assert fake.requests == []


@pytest.mark.parametrize(
    ("reply", "code", "exit_code"),
    [
        (
            Reply(401, error_body("Incorrect API key", "invalid_request_error", "invalid_api_key")),
            "MODEL_NOT_CONFIGURED",
            4,
        ),
        (
            Reply(429, error_body("Too many requests", "rate_limit", None), {"Retry-After": "12"}),
            "PROVIDER_UNAVAILABLE",
            7,
        ),
        (Reply(503, error_body("Overloaded", "server_error", None)), "PROVIDER_FAILED", 7),
        (
            Reply(
                400,
                error_body(
                    "Blocked by policy", "invalid_request_error", "content_policy_violation"
                ),
            ),
            "CONTENT_POLICY_DENIED",
            6,
        ),
    ],
    ids=["401", "429", "503", "policy"],
)
def test_upstream_failures_map_to_our_codes(
    api: TestClient,
    headers: dict[str, str],
    fake: FakeImagesAPI,
    reply: Reply,
    code: str,
    exit_code: int,
) -> None:
    before = balance(api, headers)
    fake.queue(reply)
    response = create(api, headers)
    error = failed(response, code, exit_code)
    assert KEY not in response.text and fake.base_url not in response.text
    assert len(fake.requests) == 1
    assert balance(api, headers) == before
    if code == "MODEL_NOT_CONFIGURED":
        assert "XAI_API_KEY" in error["message"]
    if code == "PROVIDER_UNAVAILABLE":
        assert error["recovery"]["retry_after_seconds"] == 12
    if code == "CONTENT_POLICY_DENIED":
        assert "xAI's own moderation" in error["message"]


def test_short_rate_limit_is_retried_and_billed_once(
    api: TestClient, headers: dict[str, str], fake: FakeImagesAPI
) -> None:
    before = balance(api, headers)
    fake.queue(
        Reply(429, error_body("Too many requests", "rate_limit", None), {"Retry-After": "0"})
    )
    response = create(api, headers)
    assert response.status_code == 201, response.text
    assert len(fake.requests) == 2
    assert balance(api, headers) == before - HOLD


def test_missing_key_lists_the_model_as_not_configured(
    api: TestClient, headers: dict[str, str], fake: FakeImagesAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XAI_API_KEY")
    models = {m["model_id"]: m for m in api.get("/v1/models").json()["data"]["models"]}
    assert models[MODEL]["availability"]["configured"] is False
    assert models[MODEL]["availability"]["missing_env"] == ["XAI_API_KEY"]
    failed(create(api, headers), "MODEL_NOT_CONFIGURED", 4)
    assert fake.requests == []


@pytest.mark.parametrize("upstream_timeout", [SHORT_TIMEOUT])
def test_slow_upstream_times_out_without_retry_or_spend(
    api: TestClient, headers: dict[str, str], fake: FakeImagesAPI
) -> None:
    before = balance(api, headers)
    fake.queue(Reply(200, delay=SHORT_TIMEOUT + 1.0))
    failed(create(api, headers), "PROVIDER_TIMEOUT", 8)
    assert len(fake.requests) == 1
    assert balance(api, headers) == before
