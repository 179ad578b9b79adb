"""HTTP transport on the standard library, so the hosted CLI path stays light."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

from image_skill.transport import RawResponse, TransportError


class HttpTransport:
    """Keep-alive HTTP(S) to one base URL."""

    def __init__(self, base_url: str, *, timeout: float = 120.0) -> None:
        parts = urlsplit(base_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("The API base URL must be an http:// or https:// URL.")
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path
        self._timeout = timeout
        self._conn: http.client.HTTPConnection | None = None
        self.description = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"  # no userinfo

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self._scheme == "https":
                self._conn = http.client.HTTPSConnection(
                    self._host, self._port, timeout=self._timeout
                )
            else:
                self._conn = http.client.HTTPConnection(
                    self._host, self._port, timeout=self._timeout
                )
        return self._conn

    def send(
        self, method: str, path: str, *, headers: dict[str, str], body: bytes | None
    ) -> RawResponse:
        """Send once; a dropped keep-alive connection is retried once on a fresh one."""
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request(method, self._prefix + path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
            except TimeoutError as exc:
                self.close()
                raise TransportError("The service did not answer in time.", timed_out=True) from exc
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self.close()
                if attempt == 2:
                    raise TransportError("The service closed the connection.") from exc
                continue
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                raise TransportError("The service could not be reached.") from exc
            headers_out = {k.lower(): v for k, v in response.getheaders()}
            if response.will_close:
                self.close()
            return RawResponse(response.status, headers_out, data)
        raise TransportError("The service could not be reached.")  # pragma: no cover

    def close(self) -> None:
        """Drop the connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
