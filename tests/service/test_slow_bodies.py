"""A request body sent slowly holds no admission place while it arrives.

Creative requests queue for a place in the admission gate (admission_gate.py);
a body of at most ``max_request_bytes`` is received first. Here the gate has one
place and a client starts a (small) upload whose body it does not finish: a
create from another client must still be admitted and answered, and the slow
upload, once its body arrives, is answered too.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest

from image_skill.service.creative.admission_gate import _small_body
from image_skill.service.settings import Settings
from tests.support.burst import call, signup
from tests.support.images import png, upload_body
from tests.support.servers import Server, start_server, stop_server


@pytest.fixture
def one_place(database_url: str, tmp_path: Path) -> Iterator[Server]:
    server = start_server(
        database_url, tmp_path, extra_env={"IMAGE_SKILL_ADMISSION_CONCURRENCY": "1"}
    )
    yield server
    stop_server(server)


def test_a_slow_upload_body_does_not_keep_a_create_out(one_place: Server) -> None:
    token, _actor = signup(one_place.base_url, "slow-body")
    address = urlsplit(one_place.base_url)
    body = json.dumps(upload_body(png(32, 32))).encode()
    head = (
        f"POST /v1/upload HTTP/1.1\r\nHost: {address.netloc}\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    slow = socket.create_connection((address.hostname, address.port), timeout=30)
    try:
        slow.sendall(head + body[:10])  # the rest of the body is late
        time.sleep(0.3)
        started = time.monotonic()
        status, envelope, _ = call(
            one_place.base_url,
            "POST",
            "/v1/create",
            {"prompt": "a kite over dunes", "model": "local.sketch"},
            token,
        )
        assert status == 201, envelope
        assert time.monotonic() - started < 10
        slow.sendall(body[10:])
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = slow.recv(65536)
            assert chunk, "the slow upload got no answer"
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 "), answer[:80]
        assert answer.split(b" ", 2)[1] == b"201", answer[:300]
    finally:
        slow.close()


@pytest.mark.parametrize(
    ("path", "length", "received_first"),
    [
        ("/v1/create", None, True),  # its body limit is max_request_bytes: always small
        ("/v1/edit", "100", True),
        ("/v1/upload", "10000", True),
        ("/v1/upload", str(300 * 1024), False),  # read while holding its place
        ("/v1/upload", None, False),  # chunked: its size is unknown until read
        ("/v1/upload", "not a number", False),
    ],
)
def test_only_small_bodies_are_received_before_the_place(
    path: str, length: str | None, received_first: bool
) -> None:
    """What waiting requests may hold in memory stays as small as any route's body;
    a large upload is read in its place, at most admission_concurrency at once."""
    settings = Settings(max_request_bytes=256 * 1024)
    headers = [(b"content-length", length.encode())] if length is not None else []
    scope = {
        "path": path,
        "headers": headers,
        "app": SimpleNamespace(state=SimpleNamespace(settings=settings)),
    }
    assert _small_body(scope) is received_first
