"""The OpenAI GPT Image adapters, driven through the real service against a fake OpenAI.

The official SDK talks HTTP to ``FakeImagesAPI`` (``OPENAI_BASE_URL``); the
service runs in-process on SQLite. Every failure is checked for its code and
exit header, the number of upstream calls, and that no credits were spent.
"""

from __future__ import annotations

import hashlib
import warnings
from typing import Any

import pytest
from httpx import Response
from PIL import Image

from image_skill.contract.envelope import EXIT_CODE_HEADER
from image_skill.providers.openai_images import build_models
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

KEY = "sk-test-OPENAI-SECRET-never-shown"
SHORT_TIMEOUT = 1.0  # for the slow-upstream test only


fake, upstream_timeout, api, headers = adapter_fixtures(KEY, "OPENAI_API_KEY", "OPENAI_BASE_URL")


def create(api: TestClient, headers: dict[str, str], **body: Any) -> Response:
    return api.post("/v1/create", json={"prompt": "a lighthouse at dusk", **body}, headers=headers)


def ok(response: Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    assert response.headers[EXIT_CODE_HEADER] == "0"
    data: dict[str, Any] = response.json()["data"]
    return data


def assert_nothing_leaks(response: Response, fake: FakeImagesAPI) -> None:
    text = response.text
    for secret in (KEY, fake.base_url, "127.0.0.1:" + fake.base_url.split(":")[-1], "b64_json"):
        assert secret not in text
    assert "Incorrect API key" not in text and "invalid_request_error" not in text


# --- success -----------------------------------------------------------------------------


def test_create_stores_the_image_in_our_store(
    api: TestClient, headers: dict[str, str], fake: FakeImagesAPI
) -> None:
    before = balance(api, headers)
    response = create(
        api,
        headers,
        model="openai.gpt-image-2",
        model_parameters={"size": "1024x1024", "quality": "low"},
    )
    data = ok(response)
    assert_nothing_leaks(response, fake)
    assert len(fake.requests) == 1
    sent = fake.requests[0]
    assert sent.path == "/v1/images/generations"
    assert sent.json == {
        "model": "gpt-image-2",
        "prompt": "a lighthouse at dusk",
        "size": "1024x1024",
        "quality": "low",
    }
    (asset,) = data["assets"]
    assert not asset["url"].startswith(fake.base_url)
    stored = api.get(asset["url"])
    assert stored.status_code == 200
    assert hashlib.sha256(stored.content).hexdigest() == asset["sha256"]
    assert (asset["width"], asset["height"], asset["mime_type"]) == (48, 32, "image/png")
    credits = data["quota"]["credits_debited"]
    assert credits == 2  # $0.006 x markup 2 -> 1.2 -> 2 credits
    assert data["cost"]["credit_pricing"]["pricing_confidence"] == "estimated"
    assert balance(api, headers) == before - credits


def test_native_parameters_arrive_as_given(
    api: TestClient, headers: dict[str, str], fake: FakeImagesAPI
) -> None:
    params = {
        "size": "1536x1024",
        "quality": "medium",
        "background": "transparent",
        "output_format": "webp",
        "output_compression": 80,
        "moderation": "low",
        "n": 2,
    }
    data = ok(create(api, headers, model="openai.gpt-image-1-mini", model_parameters=params))
    (sent,) = fake.requests
    assert sent.json == {"model": "gpt-image-1-mini", "prompt": "a lighthouse at dusk", **params}
    assert [a["mime_type"] for a in data["assets"]] == ["image/webp", "image/webp"]
    assert data["cost"]["credit_pricing"]["pricing_confidence"] == "known"
    assert data["quota"]["credits_debited"] == 2 * 3  # $0.015 x 2 -> 3 credits per image


def test_aspect_ratio_picks_a_size_when_none_is_given(
    api: TestClient, headers: dict[str, str], fake: FakeImagesAPI
) -> None:
    ok(
        create(
            api,
            headers,
            model="openai.gpt-image-2",
            aspect_ratio="16:9",
            model_parameters={"quality": "low"},
        )
    )
    assert fake.requests[0].json is not None
    assert fake.requests[0].json["size"] == "2048x1152"


def test_edit_uploads_the_input_image_as_a_file(
    api: TestClient, headers: dict[str, str], fake: FakeImagesAPI
) -> None:
    import base64
    import io

    buffer = io.BytesIO()
    Image.new("RGB", (20, 20), (1, 2, 3)).save(buffer, format="PNG")
    source = buffer.getvalue()
    upload = {
        "source_kind": "local_path",
        "filename": "in.png",
        "remote_origin": None,
        "mime_type": "image/png",
        "content_length": len(source),
        "sha256": hashlib.sha256(source).hexdigest(),
        "bytes_base64": base64.b64encode(source).decode(),
    }
    uploaded = api.post("/v1/upload", json=upload, headers=headers)
    assert uploaded.status_code in (200, 201), uploaded.text
    asset_id = uploaded.json()["data"]["asset"]["asset_id"]
    body = {
        "prompt": "make it night",
        "input_asset_id": asset_id,
        "model": "openai.gpt-image-2-edit",
        "model_parameters": {"quality": "low", "size": "1024x1024"},
    }
    response = api.post("/v1/edit", json=body, headers=headers)
    data = ok(response)
    assert_nothing_leaks(response, fake)
    (sent,) = fake.requests
    assert sent.path == "/v1/images/edits"
    assert sent.form == {
        "model": "gpt-image-2",
        "prompt": "make it night",
        "quality": "low",
        "size": "1024x1024",
    }
    _filename, content_type, payload = sent.files["image"]
    assert payload == source and content_type == "image/png"
    assert data["assets"][0]["sha256"] != hashlib.sha256(source).hexdigest()


# --- refused before any upstream call ----------------------------------------------------


@pytest.mark.parametrize(
    ("model", "params", "field"),
    [
        ("openai.gpt-image-2", {"seed": 1}, "model_parameters.seed"),
        ("openai.gpt-image-2", {"background": "transparent"}, "model_parameters.background"),
        ("openai.gpt-image-2", {"size": "1000x1000"}, "model_parameters.size"),
        ("openai.gpt-image-1-mini", {"size": "2048x2048"}, "model_parameters.size"),
        (
            "openai.gpt-image-1-mini",
            {"output_compression": 50},
            "model_parameters.output_compression",
        ),
        ("openai.gpt-image-2", {"n": 11}, "model_parameters.n"),
    ],
)
def test_bad_parameters_are_refused_before_any_upstream_call(
    api: TestClient,
    headers: dict[str, str],
    fake: FakeImagesAPI,
    model: str,
    params: dict[str, Any],
    field: str,
) -> None:
    before = balance(api, headers)
    error = failed(
        create(api, headers, model=model, model_parameters=params), "MODEL_PARAMETERS_INVALID", 2
    )
    assert error["details"]["field"] == field
    assert fake.requests == []
    assert balance(api, headers) == before


def test_planning_only_mask_is_refused(
    api: TestClient, headers: dict[str, str], fake: FakeImagesAPI
) -> None:
    body = {
        "prompt": "x",
        "input_asset_id": "image_missing",
        "model": "openai.gpt-image-2-edit",
        "model_parameters": {"mask": "image_x"},
    }
    error = failed(api.post("/v1/edit", json=body, headers=headers), "MODEL_PARAMETERS_INVALID", 2)
    assert "planning-only" in error["message"]
    assert fake.requests == []


# --- upstream failures -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "code", "exit_code"),
    [
        (
            Reply(
                401,
                error_body(
                    "Incorrect API key provided: sk-...", "invalid_request_error", "invalid_api_key"
                ),
            ),
            "MODEL_NOT_CONFIGURED",
            4,
        ),
        (
            Reply(403, error_body("Organization must be verified", "invalid_request_error", None)),
            "MODEL_NOT_CONFIGURED",
            4,
        ),
        (
            Reply(
                429,
                error_body("Rate limit reached", "requests", "rate_limit_exceeded"),
                {"Retry-After": "30"},
            ),
            "PROVIDER_UNAVAILABLE",
            7,
        ),
        (
            Reply(500, error_body("The server had an error", "server_error", None)),
            "PROVIDER_FAILED",
            7,
        ),
        (
            Reply(
                400,
                error_body(
                    "Your request was rejected by the safety system.",
                    "image_generation_user_error",
                    "moderation_blocked",
                ),
            ),
            "CONTENT_POLICY_DENIED",
            6,
        ),
        (
            Reply(
                400, error_body("Invalid size", "invalid_request_error", "invalid_value", "size")
            ),
            "PROVIDER_FAILED",
            7,
        ),
    ],
    ids=["401", "403", "429", "500", "moderation", "400"],
)
def test_upstream_failures_map_to_our_codes_and_spend_nothing(
    api: TestClient,
    headers: dict[str, str],
    fake: FakeImagesAPI,
    reply: Reply,
    code: str,
    exit_code: int,
) -> None:
    before = balance(api, headers)
    fake.queue(reply)
    response = create(api, headers, model="openai.gpt-image-2", model_parameters={"quality": "low"})
    error = failed(response, code, exit_code)
    assert_nothing_leaks(response, fake)
    assert len(fake.requests) == 1  # never retried: a 5xx or a timeout may have billed
    assert balance(api, headers) == before
    if code == "MODEL_NOT_CONFIGURED":
        assert "OPENAI_API_KEY" in error["message"]
    if code == "PROVIDER_UNAVAILABLE":
        assert error["retryable"] is True
        assert error["recovery"]["retry_after_seconds"] == 30
    if code == "CONTENT_POLICY_DENIED":
        assert "OpenAI's own moderation" in error["message"]


@pytest.mark.parametrize(
    "body",
    [
        b"<html>502 Bad Gateway</html>",
        b'{"data": [{"b64_json": "iVBORw0KGgo',  # cut short
        b"[]",
        {"data": "an image"},
        {"data": [{"url": "https://images.example/x.png"}]},
        {"data": [{"b64_json": 12345}]},
        {"data": [{"b64_json": "not base64 at all!"}]},
        {"data": [{"b64_json": "aGVsbG8gd29ybGQ="}]},  # base64, but not an image
        {"data": []},
    ],
    ids=["html", "cut", "list", "string", "url", "number", "bad-b64", "not-image", "none"],
)
def test_a_broken_success_body_is_a_provider_failure_and_spends_nothing(
    api: TestClient, headers: dict[str, str], fake: FakeImagesAPI, body: dict[str, Any] | bytes
) -> None:
    before = balance(api, headers)
    fake.queue(Reply(200, body))
    response = create(api, headers, model="openai.gpt-image-2", model_parameters={"quality": "low"})
    failed(response, "PROVIDER_FAILED", 7)
    assert_nothing_leaks(response, fake)
    assert balance(api, headers) == before


def test_short_rate_limit_is_retried_once_and_billed_once(
    api: TestClient, headers: dict[str, str], fake: FakeImagesAPI
) -> None:
    before = balance(api, headers)
    fake.queue(
        Reply(
            429,
            error_body("Rate limit reached", "requests", "rate_limit_exceeded"),
            {"Retry-After": "0"},
        )
    )
    data = ok(create(api, headers, model="openai.gpt-image-2", model_parameters={"quality": "low"}))
    assert len(fake.requests) == 2
    assert len(data["assets"]) == 1
    assert balance(api, headers) == before - data["quota"]["credits_debited"] == before - 2


def test_exhausted_quota_is_not_retried(
    api: TestClient, headers: dict[str, str], fake: FakeImagesAPI
) -> None:
    fake.queue(
        Reply(
            429,
            error_body("You exceeded your quota", "insufficient_quota", "insufficient_quota"),
            {"Retry-After": "0"},
        )
    )
    failed(create(api, headers, model="openai.gpt-image-2"), "PROVIDER_UNAVAILABLE", 7)
    assert len(fake.requests) == 1


def test_refused_connection_is_retried_then_reported_unavailable(
    api: TestClient, headers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
    before = balance(api, headers)
    error = failed(create(api, headers, model="openai.gpt-image-1-mini"), "PROVIDER_UNAVAILABLE", 7)
    assert error["retryable"] is True
    assert balance(api, headers) == before


# --- configuration -----------------------------------------------------------------------


def test_missing_key_lists_the_model_as_not_configured(
    api: TestClient, headers: dict[str, str], fake: FakeImagesAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    models = {m["model_id"]: m for m in api.get("/v1/models").json()["data"]["models"]}
    for model in build_models():
        availability = models[model.model_id]["availability"]
        assert availability["configured"] is False
        assert availability["missing_env"] == ["OPENAI_API_KEY"]
    error = failed(create(api, headers, model="openai.gpt-image-2"), "MODEL_NOT_CONFIGURED", 4)
    assert error["details"]["missing_env"] == ["OPENAI_API_KEY"]
    assert fake.requests == []


def test_models_publish_schemas_with_execution_marks(api: TestClient) -> None:
    detail = api.get("/v1/models/openai.gpt-image-2").json()["data"]["model"]
    assert detail["availability"]["configured"] is True
    for model in build_models():
        properties = model.parameters_schema["properties"]
        assert all(
            spec["x-execution"] in ("executable", "planning_only") for spec in properties.values()
        )
        assert model.required_env == ("OPENAI_API_KEY",)


@pytest.mark.parametrize("upstream_timeout", [SHORT_TIMEOUT])
def test_slow_upstream_times_out_without_retry_or_spend(
    api: TestClient, headers: dict[str, str], fake: FakeImagesAPI
) -> None:
    before = balance(api, headers)
    fake.queue(Reply(200, delay=SHORT_TIMEOUT + 1.0))
    response = create(api, headers, model="openai.gpt-image-2", model_parameters={"quality": "low"})
    failed(response, "PROVIDER_TIMEOUT", 8)
    assert_nothing_leaks(response, fake)
    assert len(fake.requests) == 1
    assert balance(api, headers) == before
