"""HTTP/1.1 over a plain socket (TLS via ``ssl`` only for https), so the hosted CLI stays light.

``http.client`` costs more to import (the ``email`` package, ``ssl`` even for
plain http) than a hosted ``whoami`` may spend in all; the SDK needs only
requests with a known body and answers framed by ``Content-Length``,
``chunked`` or the end of the connection, which this module reads with the
limits ``http.client`` applies (line length, header count). One keep-alive
connection per transport; a connection the server dropped while idle is
retried once on a fresh one.
"""

from __future__ import annotations

import select
import socket

from image_skill.transport import RawResponse, TransportError
from image_skill.transport.urls import split_base

# Not ``typing.TYPE_CHECKING``: ``typing`` would cost the hosted CLI milliseconds.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO

# http.client's limits: a status or header line, and the number of headers.
MAX_LINE = 65536
MAX_HEADERS = 100
# A line break or NUL in a header would split the request (header injection).
_FORBIDDEN_IN_HEADERS = ("\r", "\n", "\0")


class Dropped(Exception):
    """The connection closed before any answer (idle keep-alive dropped by the server)."""


class Malformed(Exception):
    """The answer is not HTTP/1.x as this client reads it."""


def encode_request(
    method: str, target: str, host: str, headers: dict[str, str], body: bytes | None
) -> bytes:
    """The request head and body as bytes; ValueError for a header that would split it."""
    if not target.startswith("/") or any(c <= " " or c == "\x7f" for c in target):
        raise ValueError("Invalid request target (a space or control character in it).")
    given = {name.lower() for name in headers}
    lines = [f"{method} {target} HTTP/1.1"]
    if "host" not in given:
        lines.append(f"Host: {host}")
    if "accept-encoding" not in given:
        lines.append("Accept-Encoding: identity")
    if "content-length" not in given and (body is not None or method in ("POST", "PUT", "PATCH")):
        lines.append(f"Content-Length: {len(body or b'')}")
    for name, value in headers.items():
        if any(c in name or c in value for c in _FORBIDDEN_IN_HEADERS) or ":" in name:
            raise ValueError("Invalid HTTP header (a line break, NUL or colon in it).")
        lines.append(f"{name}: {value}")
    try:
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    except UnicodeEncodeError:  # its message would quote the value
        raise ValueError("Invalid HTTP header (a character HTTP headers cannot carry).") from None
    return head + (body or b"")


def _line(reader: BinaryIO) -> bytes:
    line = reader.readline(MAX_LINE + 1)
    if len(line) > MAX_LINE:
        raise Malformed("line too long")
    return line


def read_response(reader: BinaryIO, method: str) -> tuple[RawResponse, bool]:
    """One answer from ``reader``, and whether the connection must close after it."""
    while True:
        status_line = _line(reader)
        if not status_line:
            raise Dropped
        version, _, rest = status_line.decode("latin-1").partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or not code.isdigit():
            raise Malformed("bad status line")
        status = int(code)
        headers = _headers(reader)
        if not 100 <= status < 200:  # 1xx (100 Continue, 103 Early Hints) precede the answer
            break
    close = version == "HTTP/1.0" or "close" in headers.get("connection", "").lower()
    if method == "HEAD" or status in (204, 304):
        return RawResponse(status, headers, b""), close
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return RawResponse(status, headers, _chunked(reader)), close
    length = headers.get("content-length")
    if length is None:  # framed by the end of the connection
        return RawResponse(status, headers, reader.read()), True
    if not length.strip().isdigit():
        raise Malformed("bad Content-Length")
    expected = int(length)
    body = reader.read(expected)
    if len(body) != expected:
        raise Malformed("short body")
    return RawResponse(status, headers, body), close


def _headers(reader: BinaryIO) -> dict[str, str]:
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADERS + 1):
        line = _line(reader)
        if line in (b"\r\n", b"\n"):
            return headers
        if not line:
            raise Malformed("headers cut short")
        name, colon, value = line.decode("latin-1").partition(":")
        if not colon:
            raise Malformed("bad header line")
        headers[name.strip().lower()] = value.strip()
    raise Malformed("too many headers")


def _chunked(reader: BinaryIO) -> bytes:
    parts: list[bytes] = []
    while True:
        size_text = _line(reader).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise Malformed("bad chunk size") from None
        if size == 0:
            _headers(reader)  # trailers, ignored
            return b"".join(parts)
        chunk = reader.read(size)
        if len(chunk) != size or _line(reader) not in (b"\r\n", b"\n"):
            raise Malformed("bad chunk")
        parts.append(chunk)


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _closed_by_peer(sock: socket.socket) -> bool:
    """Whether an idle kept-alive connection was closed meanwhile: anything to read on it
    before a request (end of stream, a reset, stray bytes) means it cannot be used."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


class KeepAliveTransport:
    """One keep-alive HTTP/1.1 connection to a peer (a TCP service or the local daemon).

    A request is sent once. A connection the peer dropped while idle is retried
    once on a fresh one; a fresh connection that drops is an error, never a
    second send, so a create is not made twice.
    """

    peer = "The service"  # how errors name the other end

    def __init__(self, timeout: float | None) -> None:
        self._timeout = timeout
        self._sock: socket.socket | None = None
        self._reader: BinaryIO | None = None

    def _open(self) -> socket.socket:
        """A new connected socket to the peer."""
        raise NotImplementedError

    def _encode(self, method: str, path: str, headers: dict[str, str], body: bytes | None) -> bytes:
        """The request's bytes as this peer wants its target and Host."""
        raise NotImplementedError

    def _connect(self) -> tuple[socket.socket, BinaryIO]:
        if self._sock is None or self._reader is None:
            sock = self._open()
            self._sock, self._reader = sock, sock.makefile("rb")
        return self._sock, self._reader

    def send(
        self, method: str, path: str, *, headers: dict[str, str], body: bytes | None
    ) -> RawResponse:
        """Send once. A kept-alive connection the peer closed while idle is replaced before
        sending; one dropped after the request went out is retried on a fresh one only
        when sending twice is harmless (a read, or a request with an Idempotency-Key)."""
        request = self._encode(method, path, headers, body)
        if self._sock is not None and _closed_by_peer(self._sock):
            self.close()
        resendable = method in _SAFE_METHODS or any(
            name.lower() == "idempotency-key" for name in headers
        )
        for attempt in (1, 2):
            fresh = self._sock is None
            try:
                sock, reader = self._connect()
                sock.sendall(request)
                response, close = read_response(reader, method)
            except TimeoutError as exc:
                self.close()
                late = f"{self.peer} did not answer in time."
                raise TransportError(late, timed_out=True) from exc
            except (Dropped, BrokenPipeError, ConnectionResetError) as exc:
                self.close()
                if attempt == 2 or fresh or not resendable:
                    raise TransportError(f"{self.peer} closed the connection.") from exc
                continue
            except Malformed as exc:
                self.close()
                raise TransportError(f"{self.peer} sent an answer that is not HTTP.") from exc
            except OSError as exc:
                self.close()
                raise TransportError(f"{self.peer} could not be reached.") from exc
            if close:
                self.close()
            return response
        raise TransportError(f"{self.peer} could not be reached.")  # pragma: no cover

    def close(self) -> None:
        """Drop the connection."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class HttpTransport(KeepAliveTransport):
    """Keep-alive HTTP(S) to one base URL."""

    def __init__(self, base_url: str, *, timeout: float = 120.0) -> None:
        super().__init__(timeout)
        parts = split_base(base_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("The API base URL must be an http:// or https:// URL.")
        self._tls = parts.scheme == "https"
        self._host = parts.hostname
        # An ASCII host goes to getaddrinfo as bytes: a str loads the idna codec every call.
        self._address: str | bytes = self._host if not self._host.isascii() else self._host.encode()
        self._port = parts.port or (443 if self._tls else 80)
        bracketed = f"[{self._host}]" if ":" in self._host else self._host
        default_port = parts.port is None or parts.port == (443 if self._tls else 80)
        self._host_header = bracketed if default_port else f"{bracketed}:{self._port}"
        self._prefix = parts.path
        self.description = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"  # no userinfo

    def _open(self) -> socket.socket:
        # typeshed says str; getaddrinfo, which takes the host on, accepts bytes too.
        address = (self._address, self._port)
        sock = socket.create_connection(address, timeout=self._timeout)  # type: ignore[arg-type]
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls:
                import ssl  # only https pays for it

                context = ssl.create_default_context()
                sock = context.wrap_socket(sock, server_hostname=self._host)
        except BaseException:
            sock.close()
            raise
        return sock

    def _encode(self, method: str, path: str, headers: dict[str, str], body: bytes | None) -> bytes:
        return encode_request(method, self._prefix + path, self._host_header, headers, body)
