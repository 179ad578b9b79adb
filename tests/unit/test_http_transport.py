"""The SDK's socket HTTP/1.1 client against a scripted loopback server.

The real server (uvicorn) only ever answers with ``Content-Length``; these
answers are the other framings and failures a proxy or a hostile server may
send, each scripted byte for byte.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

import pytest

from image_skill.client import Client
from image_skill.transport import TransportError
from image_skill.transport.http import MAX_HEADERS, HttpTransport

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
HANG_UP = b""


@dataclass
class Script:
    """Per connection, the answers to send, one per request; ``None`` reads the request and
    closes unanswered; ``HANG_UP`` closes, idle, before reading the next one."""

    answers: list[list[bytes | None]]
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            while len(body) < int(line.split(b":")[1]):
                body += conn.recv(65536)
    return data


@contextmanager
def scripted(script: Script) -> Iterator[str]:
    """A loopback server playing ``script``; yields its base URL."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        for answers in script.answers:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            script.connections += 1
            with conn:
                for answer in answers:
                    if answer == HANG_UP:
                        break
                    script.requests.append(_read_request(conn))
                    if answer is None:
                        break
                    conn.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        # shutdown() wakes a thread blocked in accept(); close() alone does not on Linux.
        with suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        thread.join(timeout=5)


def test_a_request_carries_host_length_and_body_and_reuses_the_connection() -> None:
    script = Script([[OK, OK]])
    with scripted(script) as base:
        transport = HttpTransport(base + "/prefix")
        first = transport.send("POST", "/v1/x", headers={"accept": "a/b"}, body=b'{"a":1}')
        second = transport.send("GET", "/v1/y", headers={}, body=None)
        transport.close()
    assert (first.status, first.body, second.body) == (200, b"ok", b"ok")
    assert script.connections == 1
    head = script.requests[0].decode()
    port = base.rsplit(":", 1)[1]
    assert head.startswith("POST /prefix/v1/x HTTP/1.1\r\n")
    assert f"Host: 127.0.0.1:{port}\r\n" in head and "Content-Length: 7\r\n" in head
    assert head.endswith('\r\n\r\n{"a":1}') and "accept: a/b\r\n" in head


def test_chunked_informational_and_close_framed_answers_are_read_whole() -> None:
    chunked = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nX-Trace: t1\r\n\r\n"
        b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: x\r\n\r\n"
    )
    until_close = b"HTTP/1.1 200 OK\r\n\r\nto the end"
    script = Script([[chunked, until_close]])
    with scripted(script) as base:
        transport = HttpTransport(base)
        first = transport.send("GET", "/a", headers={}, body=None)
        second = transport.send("GET", "/b", headers={}, body=None)
    assert (first.status, first.body, first.headers["x-trace"]) == (201, b"abcde", "t1")
    assert second.body == b"to the end"


def test_an_idle_connection_the_server_closed_is_replaced_before_sending() -> None:
    script = Script([[OK, HANG_UP], [OK]])
    with scripted(script) as base:
        transport = HttpTransport(base)
        transport.send("GET", "/a", headers={}, body=None)
        time.sleep(0.2)  # the server hangs up the idle connection
        again = transport.send("POST", "/v1/create", headers={}, body=b"x")
    assert again.body == b"ok" and script.connections == 2
    assert len(script.requests) == 2  # the create went out once


@pytest.mark.parametrize(
    ("method", "headers", "resent"),
    [
        ("GET", {}, True),
        ("POST", {"Idempotency-Key": "k1"}, True),
        ("POST", {}, False),
    ],
    ids=["read", "keyed-create", "unkeyed-create"],
)
def test_a_request_dropped_on_a_reused_connection_is_resent_only_when_harmless(
    method: str, headers: dict[str, str], resent: bool
) -> None:
    """The server read the request, then closed: it may have run it."""
    script = Script([[OK, None], [OK]])
    with scripted(script) as base:
        transport = HttpTransport(base)
        transport.send("GET", "/a", headers={}, body=None)
        if resent:
            assert transport.send(method, "/b", headers=headers, body=b"x").body == b"ok"
        else:
            with pytest.raises(TransportError, match="closed"):
                transport.send(method, "/b", headers=headers, body=b"x")
    assert script.connections == (2 if resent else 1)


def test_a_fresh_connection_closed_unanswered_is_not_retried() -> None:
    """A create the server may have run is never sent twice."""
    script = Script([[None], [OK]])
    with scripted(script) as base, pytest.raises(TransportError, match="closed"):
        HttpTransport(base).send("POST", "/v1/create", headers={}, body=b"{}")
    assert script.connections == 1


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * (MAX_HEADERS + 1) + b"\r\n",
        b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 70000 + b"\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"SSH-2.0-OpenSSH\r\n\r\n",
    ],
    ids=["headers", "line", "short", "length", "chunk", "not-http"],
)
def test_a_malformed_answer_is_a_transport_error(answer: bytes) -> None:
    # The server closes after its answer, so a short body ends instead of waiting.
    with scripted(Script([[answer]])) as base, pytest.raises(TransportError):
        HttpTransport(base, timeout=5).send("GET", "/a", headers={}, body=None)


def test_a_silent_server_times_out() -> None:
    listener = socket.create_server(("127.0.0.1", 0))  # accepts (backlog), never answers
    try:
        transport = HttpTransport(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout=0.3)
        with pytest.raises(TransportError) as caught:
            transport.send("GET", "/a", headers={}, body=None)
    finally:
        listener.close()
    assert caught.value.timed_out


def test_a_header_that_would_split_the_request_is_refused_before_sending() -> None:
    script = Script([[OK]])
    with scripted(script) as base:
        transport = HttpTransport(base)
        for headers in ({"authorization": "Bearer a\r\nX-Evil: 1"}, {"x\r\ny": "1"}):
            with pytest.raises(ValueError):
                transport.send("GET", "/a", headers=headers, body=None)
        with pytest.raises(ValueError):
            transport.send("GET", "/a b", headers={}, body=None)
    assert script.requests == []


def test_the_client_answers_a_header_that_would_split_the_request_with_invalid_arguments() -> None:
    script = Script([[OK]])
    with scripted(script) as base:
        client = Client(base, "isk_test_token", command="image-skill create")
        result = client.request(
            "POST", "/v1/create", body={"prompt": "cat"}, headers={"Idempotency-Key": "a\nb"}
        )
        priced = client.request("GET", "/v1/quota", headers={"X-Note": "5€ secret"})
    for refused in (result, priced):
        error = refused.envelope["error"]
        assert error["code"] == "INVALID_ARGUMENTS" and refused.exit_code == 2
        assert "a\nb" not in error["message"] and "€" not in error["message"]
    assert script.requests == []
