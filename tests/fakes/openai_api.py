"""A local fake of OpenAI's Images API (also what xAI's compatible endpoint speaks).

``FakeImagesAPI`` is a real HTTP server on a loopback port (a background
thread) that answers in the documented wire format, so the official ``openai``
SDK can be pointed at it unchanged (``OPENAI_BASE_URL`` / ``XAI_BASE_URL``):

* ``POST /v1/images/generations``: a JSON body in.
* ``POST /v1/images/edits``: a ``multipart/form-data`` body in (fields + the
  ``image`` file upload).
* Success: ``{"created", "data": [{"b64_json": ...}] x n, "usage": {...}}`` with
  a real PNG (or JPEG when ``output_format`` asks for it), ``x-request-id`` set.
* ``Authorization: Bearer <key>`` is checked against ``expected_key`` (401 with
  an ``invalid_api_key`` error otherwise).
* Replies can be scripted for the next requests (``queue``): a status with an
  error body ``{"error": {"message", "type", "param", "code"}}``, extra headers
  (``Retry-After``) and a delay ("slow mode").
* Every request is recorded (path, headers, parsed JSON or form + files).

Below the fake: the setup both adapter test modules share (``adapter_fixtures``,
``adapter_app``, ``signup_headers``) and their response checks (``balance``, ``failed``).
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from image_skill.contract.envelope import EXIT_CODE_HEADER
from image_skill.contract.errors import spec_for

SUCCESS_SIZE = (48, 32)


@dataclass
class Reply:
    """One scripted answer."""

    status: int = 200
    # None with 200: a generated success body; bytes: sent as they are (a broken upstream).
    body: dict[str, Any] | bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    headers: dict[str, str]
    json: dict[str, Any] | None = None
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str | None, str, bytes]] = field(default_factory=dict)

    @property
    def fields(self) -> dict[str, Any]:
        """The request's parameters, JSON or multipart alike."""
        return dict(self.json) if self.json is not None else dict(self.form)


def error_body(
    message: str, type_: str, code: str | None, param: str | None = None
) -> dict[str, Any]:
    """An error in OpenAI's documented shape."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def image_bytes(fmt: str = "png", size: tuple[int, int] = SUCCESS_SIZE) -> bytes:
    """A real image encoded by Pillow."""
    buffer = io.BytesIO()
    Image.new("RGB", size, (30, 144, 255)).save(buffer, format=fmt.upper())
    return buffer.getvalue()


def _parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, Any]]:
    message = BytesParser(policy=default_policy).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\nMIME-Version: 1.0\r\n\r\n" + body
    )
    form: dict[str, str] = {}
    files: dict[str, tuple[str | None, str, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        assert isinstance(name, str) and isinstance(payload, bytes)
        filename = part.get_filename()
        if filename is not None:
            files[name] = (filename, part.get_content_type(), payload)
        else:
            form[name] = payload.decode()
    return form, files


class FakeImagesAPI:
    """The fake server; use ``running()`` to start and stop it."""

    def __init__(self, expected_key: str) -> None:
        self.expected_key = expected_key
        self.requests: list[Recorded] = []
        self._script: list[Reply] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        """What to put in ``OPENAI_BASE_URL`` / ``XAI_BASE_URL``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def queue(self, *replies: Reply) -> None:
        """Answer the next requests with ``replies`` (then successes again)."""
        with self._lock:
            self._script.extend(replies)

    def _next(self) -> Reply:
        with self._lock:
            return self._script.pop(0) if self._script else Reply()

    def _record(self, request: Recorded) -> None:
        with self._lock:
            self.requests.append(request)

    def _success(self, fields: dict[str, Any]) -> dict[str, Any]:
        n = int(fields.get("n") or 1)
        fmt = str(fields.get("output_format") or "png")
        encoded = base64.b64encode(image_bytes(fmt)).decode()
        return {
            "created": int(time.time()),
            "data": [{"b64_json": encoded} for _ in range(n)],
            "usage": {
                "input_tokens": 50,
                "output_tokens": 272 * n,
                "total_tokens": 50 + 272 * n,
                "input_tokens_details": {"text_tokens": 50, "image_tokens": 0},
            },
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(
                self, status: int, body: dict[str, Any] | bytes, headers: dict[str, str]
            ) -> None:
                raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw)))
                    self.send_header("x-request-id", f"req_fake_{len(fake.requests)}")
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (slow mode)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                content_type = self.headers.get("Content-Type", "")
                recorded = Recorded(
                    "POST", self.path, {k.lower(): v for k, v in self.headers.items()}
                )
                if content_type.startswith("multipart/form-data"):
                    recorded.form, recorded.files = _parse_multipart(content_type, raw)
                else:
                    recorded.json = json.loads(raw or b"{}")
                fake._record(recorded)
                if self.path not in ("/v1/images/generations", "/v1/images/edits"):
                    self._send(404, error_body("Unknown path", "invalid_request_error", None), {})
                    return
                if self.headers.get("Authorization") != f"Bearer {fake.expected_key}":
                    body = error_body(
                        "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
                    )
                    self._send(401, body, {})
                    return
                reply = fake._next()
                if reply.delay:
                    time.sleep(reply.delay)
                body = reply.body if reply.body is not None else fake._success(recorded.fields)
                self._send(reply.status, body, reply.headers)

        return Handler

    @contextmanager
    def running(self) -> Iterator[FakeImagesAPI]:
        """Serve in a background thread for the duration of the block."""
        self._thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()


@contextmanager
def adapter_app(home: Path, upstream_timeout: float) -> Iterator[Any]:
    """A started app (TestClient) on SQLite in ``home``, with room for priced creates."""
    import warnings

    from image_skill.service.app import create_app
    from image_skill.service.settings import Settings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    settings = Settings(
        database_url=f"sqlite:///{home / 'adapters.db'}",
        home=home / "service",
        embedded=False,
        environment="test",
        token_pepper="adapter-test-pepper",
        provider_timeout_seconds=upstream_timeout,
        free_preview_credits=500,
    )
    with TestClient(create_app(settings)) as client:
        yield client


def signup_headers(api: Any) -> dict[str, str]:
    """The Authorization header of a fresh agent on ``api``."""
    body = {"human_email": "h@example.com", "agent_name": "bot", "return_token": True}
    response = api.post("/v1/agent-signups", json=body)
    assert response.status_code in (200, 201), response.text
    return {"Authorization": f"Bearer {response.json()['data']['token']}"}


def adapter_fixtures(key: str, key_env: str, base_url_env: str) -> tuple[Any, Any, Any, Any]:
    """The fixtures ``fake``, ``upstream_timeout``, ``api`` and ``headers`` of an adapter's
    test module; bind them there: ``fake, upstream_timeout, api, headers = adapter_fixtures(...)``.

    ``fake`` expects ``key``; ``api`` is ``adapter_app`` with ``key_env`` set to ``key`` and
    ``base_url_env`` to the fake; ``headers`` are a fresh agent's on it. ``upstream_timeout``
    (10 s) can be parametrized by a test.
    """

    @pytest.fixture
    def fake() -> Iterator[FakeImagesAPI]:
        with FakeImagesAPI(key).running() as server:
            yield server

    @pytest.fixture
    def upstream_timeout() -> float:
        return 10.0

    @pytest.fixture
    def api(
        fake: FakeImagesAPI,
        monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path,
        upstream_timeout: float,
    ) -> Iterator[Any]:
        monkeypatch.setenv(key_env, key)
        monkeypatch.setenv(base_url_env, fake.base_url)
        with adapter_app(tmp_path, upstream_timeout) as client:
            yield client

    @pytest.fixture
    def headers(api: Any) -> dict[str, str]:
        return signup_headers(api)

    return fake, upstream_timeout, api, headers


def balance(api: Any, headers: dict[str, str]) -> int:
    """The agent's credit balance."""
    response = api.get("/v1/quota", headers=headers)
    assert response.status_code == 200, response.text
    value: int = response.json()["data"]["credits"]["balance"]
    return value


def failed(response: Any, code: str, exit_code: int) -> dict[str, Any]:
    """The error of a failed response, checked: its code, exit header and HTTP status."""
    envelope = response.json()
    assert envelope["ok"] is False, envelope
    assert envelope["error"]["code"] == code, envelope["error"]
    assert response.headers[EXIT_CODE_HEADER] == str(exit_code)
    assert response.status_code == spec_for(code).http_status
    error: dict[str, Any] = envelope["error"]
    return error
