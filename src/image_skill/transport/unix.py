"""HTTP over a unix socket, to the embedded daemon (standard library only).

The hosted code path's own HTTP/1.1 (:mod:`image_skill.transport.http`), not
``http.client`` (its ``email`` parsing costs more to import than a warm command
spends), so a warm embedded command imports no web framework and no HTTP
library. Every connection checks the peer with ``SO_PEERCRED``: a socket
answered by a process of another user is refused, whatever the file says.
Socket paths longer than the kernel's limit (~107 bytes) are reached through
``/proc/self/fd`` of the socket's directory.
"""

from __future__ import annotations

import os
import socket
import struct

from image_skill.transport import RawResponse
from image_skill.transport.http import KeepAliveTransport, encode_request, read_response

# Not ``typing.TYPE_CHECKING``: a warm command pays for every import (mypy reads the block).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

# Asset URLs and request URLs come out as they did in-process (transport.embedded).
HOST = "embedded.local"
_CRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


class ForeignPeer(OSError):
    """The process behind the socket belongs to another user."""


def connect_unix(path: Path, timeout: float | None) -> tuple[socket.socket, int]:
    """A connected socket to ``path`` and the peer's pid; ``ForeignPeer`` if not this user's."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        if len(os.fsencode(str(path))) < 100:
            sock.connect(str(path))
        else:
            directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                sock.connect(f"/proc/self/fd/{directory}/{path.name}")
            finally:
                os.close(directory)
        pid, uid, _gid = _CRED.unpack(
            sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _CRED.size)
        )
        if uid != os.getuid():
            raise ForeignPeer("The daemon socket is served by another user.")
    except BaseException:
        sock.close()
        raise
    return sock, pid


def exchange(sock: socket.socket, method: str, path: str) -> RawResponse:
    """One body-less request on a connected socket and its answer; the socket is closed after.

    For the daemon's handshake and stop calls. Raises ``Dropped`` when the daemon
    closed without answering, ``Malformed`` for an answer that is not HTTP, and
    ``OSError`` (a timeout, a reset) as the socket does.
    """
    try:
        sock.sendall(encode_request(method, path, HOST, {}, None))
        with sock.makefile("rb") as reader:
            return read_response(reader, method)[0]
    finally:
        sock.close()


class UnixTransport(KeepAliveTransport):
    """Keep-alive HTTP to the embedded daemon; ``description`` says embedded (file:// allowed)."""

    description = "embedded"
    peer = "The local service"

    def __init__(self, path: Path, *, timeout: float | None = 900.0) -> None:
        super().__init__(timeout)
        self._path = path

    def _open(self) -> socket.socket:
        return connect_unix(self._path, self._timeout)[0]

    def _encode(self, method: str, path: str, headers: dict[str, str], body: bytes | None) -> bytes:
        return encode_request(method, path, HOST, headers, body)
