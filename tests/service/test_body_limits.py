"""Request bodies are bounded while they are read, against a real ``image-skill serve``.

Before the limit a 300 MB unauthenticated body grew the server by ~0.9 GB.
Now a declared Content-Length over the limit is refused without reading, a
streamed (chunked) body is cut off at the limit, and the refusal is the
``PAYLOAD_TOO_LARGE`` envelope (HTTP 413, exit 2) naming the limit in bytes.
The database plays no part (the limit runs before routing): SQLite only.
"""

from __future__ import annotations

import io
import json
import math
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image

from tests.support.images import upload_body
from tests.support.servers import Server, start_server, stop_server

MAX_UPLOAD_BYTES = 150_000
UPLOAD_LIMIT = math.ceil(MAX_UPLOAD_BYTES * 4 / 3) + 64 * 1024
REQUEST_LIMIT = 256 * 1024  # the default max_request_bytes
WEBHOOK_LIMIT = 128 * 1024
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("body-limits")
    env = {"IMAGE_SKILL_MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES)}
    running = start_server(f"sqlite:///{workdir / 'test.db'}", workdir, env)
    yield running
    stop_server(running)


def vm_kib(pid: int, field: str) -> int:
    """A ``/proc/<pid>/status`` memory figure (VmRSS, VmHWM) in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} missing")


def assert_too_large(response: httpx.Response, limit: int) -> None:
    assert response.status_code == 413, response.text[:500]
    assert response.headers["x-image-skill-exit-code"] == "2"
    error = response.json()["error"]
    assert error["code"] == "PAYLOAD_TOO_LARGE"
    assert f"{limit} bytes" in error["message"]
    assert error["details"]["limit_bytes"] == limit


def sign_up(client: httpx.Client) -> str:
    body = {"human_email": "limits@example.com", "agent_name": os.urandom(4).hex()}
    response = client.post("/v1/agent-signups", json=body)
    assert response.status_code == 201, response.text
    token: str = response.json()["data"]["token"]
    return token


def noise_png(side: int) -> bytes:
    """A PNG of random pixels (PNG cannot compress noise: about 3 bytes a pixel)."""
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(buffer, "PNG")
    return buffer.getvalue()


def test_a_streamed_300_mb_body_is_cut_off_without_growing_the_server(server: Server) -> None:
    pid = server.process.pid
    chunk = b"x" * MIB
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        for _ in range(300):
            sent += len(chunk)
            yield chunk

    with httpx.Client(base_url=server.base_url, timeout=60) as client:
        client.get("/v1/models")  # warm the route code before the baseline
        rss_before = vm_kib(pid, "VmRSS")
        response = client.post(
            "/v1/agent-signups", content=body(), headers={"content-type": "application/json"}
        )
        rss_after = vm_kib(pid, "VmRSS")
        peak = vm_kib(pid, "VmHWM")
        assert_too_large(response, REQUEST_LIMIT)
        # The server answered at the limit and closed: the client stopped long before 300 MB.
        assert sent < 300 * MIB
        growth_mib = (rss_after - rss_before) / 1024
        print(
            f"\n300 MB streamed body: RSS {rss_before // 1024} -> {rss_after // 1024} MiB "
            f"(growth {growth_mib:.1f} MiB, peak {peak // 1024} MiB), "
            f"client sent {sent // MIB} MiB before the answer"
        )
        assert growth_mib < 30
        assert client.get("/healthz").status_code == 200


def test_a_declared_length_over_the_limit_is_refused_before_any_body(server: Server) -> None:
    url = urlsplit(server.base_url)
    head = (
        "POST /v1/upload HTTP/1.1\r\n"
        f"Host: {url.netloc}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {300 * MIB}\r\n\r\n"
    )
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(head.encode())  # and not one byte of the promised body
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == b"413"
    envelope = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert envelope["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert envelope["error"]["details"]["limit_bytes"] == UPLOAD_LIMIT


def test_an_upload_just_over_its_limit_is_refused_and_one_under_is_stored(
    server: Server,
) -> None:
    with httpx.Client(base_url=server.base_url, timeout=60) as client:
        auth = {"authorization": f"Bearer {sign_up(client)}", "content-type": "application/json"}
        image = noise_png(220)
        assert MAX_UPLOAD_BYTES - 10_000 < len(image) <= MAX_UPLOAD_BYTES
        body = json.dumps(upload_body(image)).encode()
        stored = client.post("/v1/upload", content=body, headers=auth)
        assert stored.status_code == 201, stored.text[:500]

        padded = body[:-1] + b" " * (UPLOAD_LIMIT + 1 - len(body)) + b"}"
        assert len(padded) == UPLOAD_LIMIT + 1
        assert_too_large(client.post("/v1/upload", content=padded, headers=auth), UPLOAD_LIMIT)
        # The same body streamed without a Content-Length is cut off at the limit too.
        streamed = client.post(
            "/v1/upload", content=iter([padded[:100_000], padded[100_000:]]), headers=auth
        )
        assert_too_large(streamed, UPLOAD_LIMIT)
        at_limit = body[:-1] + b" " * (UPLOAD_LIMIT - len(body)) + b"}"
        assert client.post("/v1/upload", content=at_limit, headers=auth).status_code == 201


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        ("/v1/agent-signups", REQUEST_LIMIT),
        ("/v1/cli", REQUEST_LIMIT),
        ("/v1/create", REQUEST_LIMIT),
        ("/v1/webhooks/stripe", WEBHOOK_LIMIT),
        ("/no-such-route", REQUEST_LIMIT),
    ],
)
def test_other_routes_have_small_limits(server: Server, path: str, limit: int) -> None:
    with httpx.Client(base_url=server.base_url, timeout=60) as client:
        over = b'{"x": "' + b"a" * limit + b'"}'
        assert_too_large(client.post(path, content=over), limit)
        under = b'{"x": "' + b"a" * (limit - 100) + b'"}'
        response = client.post(path, content=under)
        assert response.status_code != 413 and response.status_code < 500, response.text[:300]
