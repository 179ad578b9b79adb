"""A stored file cut short while a real server is sending it ends that response cleanly.

``image-skill serve`` on loopback sends a large asset to a client that reads
nothing at first (a small receive buffer), so the server is still reading the
file when it is truncated under it. The client must then get exactly the bytes
that still existed and the connection closed (no hang, no 500 after the
headers, no path in the log), and the server must go on serving.
"""

from __future__ import annotations

import io
import json
import os
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from PIL import Image

from tests.support.burst import signup
from tests.support.images import upload_body
from tests.support.servers import Server, http_call, running_server

ASSET_BYTES = 12_000_000  # well past what loopback buffers hold while the client waits
KEEP_BYTES = 8_000_000


def noise_png(target_bytes: int) -> bytes:
    side = int((target_bytes // 3) ** 0.5) + 1
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(
        buffer, format="PNG", compress_level=1
    )
    return buffer.getvalue()


def upload(server: Server, token: str, data: bytes) -> dict[str, object]:
    status, _, body = http_call(server, "POST", "/v1/upload", upload_body(data), token, timeout=120)
    assert status == 201, body[:500]
    asset: dict[str, object] = json.loads(body)["data"]["asset"]
    return asset


def read_head(conn: socket.socket) -> tuple[bytes, bytes]:
    """The response head and whatever body bytes came with it."""
    received = b""
    while b"\r\n\r\n" not in received:
        more = conn.recv(65536)
        assert more, "closed before the headers"
        received += more
    head, _, rest = received.partition(b"\r\n\r\n")
    return head, rest


def read_to_close(conn: socket.socket, deadline: float) -> int:
    """Body bytes read until the server closes the connection (fails past the deadline)."""
    total = 0
    while time.monotonic() < deadline:
        more = conn.recv(1 << 20)
        if not more:
            return total
        total += len(more)
    raise AssertionError("the server neither finished nor closed the connection")


@pytest.mark.slow
def test_a_file_truncated_mid_download_closes_that_response_only(tmp_path: Path) -> None:
    with running_server(f"sqlite:///{tmp_path / 'media.db'}", tmp_path) as server:
        token, _ = signup(server.base_url, "truncation")
        asset = upload(server, token, noise_png(ASSET_BYTES))
        length = int(str(asset["content_length"]))
        assert length > KEEP_BYTES
        sha = str(asset["sha256"])
        stored = tmp_path / "server-data" / "assets" / "objects" / sha[:2] / f"{sha}.png"
        assert stored.stat().st_size == length
        log_before = len(server.log())
        parts = urlsplit(str(asset["url"]))
        request = f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n"
        with socket.socket() as conn:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
            conn.settimeout(30)
            conn.connect((parts.hostname or "127.0.0.1", parts.port or 80))
            conn.sendall(request.encode())
            head, early = read_head(conn)
            assert head.startswith(b"HTTP/1.1 200"), head
            assert f"content-length: {length}".encode() in head.lower()
            time.sleep(0.5)  # the server fills the buffers and waits for the client
            os.truncate(stored, KEEP_BYTES)
            body = len(early) + read_to_close(conn, time.monotonic() + 30)
        assert body == KEEP_BYTES
        # The server carries on: health, and a fresh asset served whole.
        assert http_call(server, "GET", "/healthz", timeout=30)[0] == 200
        small = upload(server, token, noise_png(50_000))
        small_url = urlsplit(str(small["url"]))
        status, _, data = http_call(
            server, "GET", f"{small_url.path}?{small_url.query}", timeout=30
        )
        assert status == 200 and len(data) == small["content_length"]
        after = server.log()[log_before:]
        assert str(tmp_path) not in after and "objects/" not in after
