"""``image-skill serve`` runs uvicorn on uvloop and httptools (cli/commands/serve.py),
says so on its start line, and the C parser still turns hostile HTTP away without
harm to the next request; an upload whose client leaves mid-body (the route reads
its own body, upload_body.py) ends quietly. SQLite only: the database plays no part."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.support.servers import Server, http_call, start_server, stop_server


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("server-stack")
    server = start_server(f"sqlite:///{workdir / 'stack.db'}", workdir)
    yield server
    stop_server(server)


def _raw(server: Server, request: bytes) -> bytes:
    parts = urlsplit(server.base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def test_the_start_line_names_uvloop_and_httptools(live: Server) -> None:
    start = next(line for line in live.log().splitlines() if "serving on" in line)
    assert start.endswith("; uvloop, httptools)"), start


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n12345",
        b"POST /v1/upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n",
    ],
    ids=["request-line", "nul-in-header", "two-lengths", "bad-chunk"],
)
def test_malformed_http_is_refused_and_the_server_keeps_serving(
    live: Server, request_bytes: bytes
) -> None:
    answer = _raw(live, request_bytes)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 4"), answer[:200]
    status, _headers, _body = http_call(live, "GET", "/healthz", timeout=10)
    assert status == 200
    assert "Traceback" not in live.log()


def test_a_client_leaving_mid_upload_leaves_no_error_behind(live: Server) -> None:
    body = {"human_email": "h@example.com", "agent_name": "leaver", "return_token": True}
    status, _headers, raw = http_call(live, "POST", "/v1/agent-signups", body, timeout=30)
    assert status in (200, 201), raw
    token = json.loads(raw)["data"]["token"]
    parts = urlsplit(live.base_url)
    head = (
        "POST /v1/upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {token}\r\nContent-Length: 1000000\r\n\r\n"
    )
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head.encode() + b'{"source_kind": "local_path", "bytes_base64": "QUFB')
        time.sleep(0.5)  # the route is reading the body when the client goes
    time.sleep(0.5)
    status, _headers, _raw = http_call(live, "GET", "/healthz", timeout=10)
    assert status == 200
    log = live.log()
    assert "unhandled error" not in log and "Traceback" not in log, log[-3000:]
