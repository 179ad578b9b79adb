"""``POST /v1/upload`` reads its own body (service/creative/upload_body.py): the same
answers as a FastAPI body parameter, a base64 string decoded in slices to the same
bytes, and the request model still in the OpenAPI document."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.support.agents import Agent, sign_up
from tests.support.envelopes import check_error, ok
from tests.support.images import png, upload_body

SLICE_CHARS = 4 * 1024 * 1024  # upload._B64_SLICE: a body over it decodes in two slices


@pytest.fixture
def agent(api: TestClient) -> Agent:
    return sign_up(api)


def _post(agent: Agent, content: bytes, content_type: str | None) -> Any:
    headers = {"authorization": f"Bearer {agent.token}"}
    if content_type is not None:
        headers["content-type"] = content_type
    return agent.client.post("/v1/upload", content=content, headers=headers)


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_json_is_refused_naming_the_body(
    agent: Agent, content_type: str | None
) -> None:
    body = upload_body(png())
    content = str(body).encode()
    error = check_error(_post(agent, content, content_type), "INVALID_ARGUMENTS", 2)
    assert error["details"]["field"] == "body"


def test_an_empty_body_and_malformed_json_are_refused(agent: Agent) -> None:
    error = check_error(_post(agent, b"", "application/json"), "INVALID_ARGUMENTS", 2)
    assert error["details"]["field"] == "body"
    error = check_error(
        _post(agent, b'{"source_kind": ', "application/json"), "INVALID_ARGUMENTS", 2
    )
    assert "body: not valid JSON" in error["message"]


def test_a_missing_field_is_named(agent: Agent) -> None:
    content = b'{"source_kind": "local_path"}'
    error = check_error(
        _post(agent, content, "application/json; charset=utf-8"), "INVALID_ARGUMENTS", 2
    )
    assert error["details"]["field"] == "bytes_base64"


def test_a_nul_in_a_field_is_refused_naming_it(agent: Agent) -> None:
    body = upload_body(png(), filename="a\u0000b.png")
    content = json.dumps(body).encode()
    error = check_error(_post(agent, content, "application/json"), "INVALID_ARGUMENTS", 2)
    assert error["details"]["field"] == "filename"


def _noise_png(min_bytes: int) -> bytes:
    side = int((min_bytes / 3) ** 0.5) + 1
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=0)
    return buffer.getvalue()


def test_an_upload_over_one_slice_is_stored_byte_for_byte(agent: Agent) -> None:
    data = _noise_png(SLICE_CHARS * 3 // 4 + 100_000)
    assert len(base64.b64encode(data)) > SLICE_CHARS
    response = agent.post("/v1/upload", upload_body(data))
    upload = ok(response, 201)["upload"]
    assert upload["bytes"] == len(data)
    assert upload["sha256"] == hashlib.sha256(data).hexdigest()


def test_padding_inside_a_long_string_is_refused_as_a_whole_decode_would(agent: Agent) -> None:
    text = "QQ==" + base64.b64encode(os.urandom(SLICE_CHARS)).decode()
    body = {"source_kind": "local_path", "bytes_base64": text}
    response = agent.post("/v1/upload", body)
    error = check_error(response, "INVALID_ARGUMENTS", 2)
    assert error["details"]["field"] == "bytes_base64"


def test_the_openapi_document_keeps_the_upload_body(api: TestClient) -> None:
    operation = api.get("/openapi.json").json()["paths"]["/v1/upload"]["post"]
    body = operation["requestBody"]
    assert body["required"] is True
    schema = body["content"]["application/json"]["schema"]
    assert "bytes_base64" in schema["required"]
    assert set(schema["properties"]) >= {"source_kind", "bytes_base64", "sha256"}
