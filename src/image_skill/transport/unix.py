"""HTTP over a unix socket, to the embedded daemon (standard library only).

The hosted code path (``http.client``), so a warm embedded command imports no
web framework. Every connection checks the peer with ``SO_PEERCRED``: a socket
answered by a process of another user is refused, whatever the file says.
Socket paths longer than the kernel's limit (~107 bytes) are reached through
``/proc/self/fd`` of the socket's directory.
"""

from __future__ import annotations

import http.client
import os
import socket
import struct
from pathlib import Path

from image_skill.transport import RawResponse, TransportError

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


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float | None) -> None:
        super().__init__(HOST, timeout=timeout)
        self._path = path
        self.peer_pid = 0

    def connect(self) -> None:
        self.sock, self.peer_pid = connect_unix(self._path, self.timeout)


class UnixTransport:
    """Keep-alive HTTP to the embedded daemon; ``description`` says embedded (file:// allowed)."""

    description = "embedded"

    def __init__(self, path: Path, *, timeout: float | None = 900.0) -> None:
        self._path = path
        self._timeout = timeout
        self._conn: _UnixConnection | None = None

    def send(
        self, method: str, path: str, *, headers: dict[str, str], body: bytes | None
    ) -> RawResponse:
        """Send once; a keep-alive connection the daemon dropped is retried once, fresh."""
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = _UnixConnection(self._path, self._timeout)
            conn = self._conn
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
            except TimeoutError as exc:
                self.close()
                raise TransportError(
                    "The local service did not answer in time.", timed_out=True
                ) from exc
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self.close()
                if attempt == 2:
                    raise TransportError("The local service closed the connection.") from exc
                continue
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                raise TransportError("The local service could not be reached.") from exc
            headers_out = {k.lower(): v for k, v in response.getheaders()}
            if response.will_close:
                self.close()
            return RawResponse(response.status, headers_out, data)
        raise TransportError("The local service could not be reached.")  # pragma: no cover

    def close(self) -> None:
        """Drop the connection (the daemon keeps running)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
