"""Fetch a URL without credentials under an overall deadline and a size cap.

Used for asset downloads (``assets get``) and for the CLI's fetch of a remote
input image. A socket timeout alone bounds each ``recv``, not the whole
exchange: a server that sends one byte a second never trips it. So a watchdog
timer shuts the connection's socket down when the overall deadline passes,
which wakes any blocked read, and the answer is then ``TIMEOUT`` whatever the
read returned. Bodies are read a chunk at a time and refused as soon as they
pass the cap. Standard library only (``import httpx`` alone costs ~120 ms).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import threading
import time
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from image_skill import __version__
from image_skill.contract.errors import ErrorCode, ImageSkillError

__all__ = ["DEADLINE_ENV", "deadline_seconds", "fetch_url"]

USER_AGENT = f"image-skill-python/{__version__}"
# Overrides every download's overall deadline, in seconds (e.g. for slow links or tests).
DEADLINE_ENV = "IMAGE_SKILL_DOWNLOAD_TIMEOUT_SECONDS"
_CHUNK = 64 * 1024


def deadline_seconds(default: float) -> float:
    """The overall download deadline: ``IMAGE_SKILL_DOWNLOAD_TIMEOUT_SECONDS`` or ``default``."""
    raw = os.environ.get(DEADLINE_ENV, "").strip()
    try:
        value = float(raw)
    except ValueError:
        return default
    return value if 0 < value < float("inf") else default


def _download_failed(message: str, *, retryable: bool = True) -> ImageSkillError:
    return ImageSkillError(ErrorCode.ASSET_DOWNLOAD_FAILED, message, retryable=retryable)


def _too_large(max_bytes: int) -> ImageSkillError:
    return _download_failed(
        f"The content is larger than the limit of {max_bytes} bytes.", retryable=False
    )


def _timed_out(seconds: float) -> ImageSkillError:
    return ImageSkillError(
        ErrorCode.TIMEOUT,
        f"The download did not finish within {seconds:g} seconds.",
        retryable=True,
    )


class _Watchdog:
    """Shuts down every watched socket once the deadline passes."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._deadline = time.monotonic() + self.seconds
        self._timer.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._timer.cancel()

    def remaining(self) -> float:
        """Seconds left (at least a sliver, so a socket timeout is never zero)."""
        return max(self._deadline - time.monotonic(), 0.001)

    def watch(self, sock: socket.socket) -> None:
        """Cut ``sock`` off at the deadline (at once if it already passed)."""
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed: nothing left to wake
        sock.shutdown(socket.SHUT_RDWR)


def _opener(watchdog: _Watchdog) -> urllib.request.OpenerDirector:
    """Redirects only to http/https; every connection watched by ``watchdog``."""

    class WebOnlyRedirects(urllib.request.HTTPRedirectHandler):
        max_redirections = 5

        def redirect_request(
            self,
            req: urllib.request.Request,
            fp: Any,
            code: int,
            msg: str,
            headers: Any,
            newurl: str,
        ) -> urllib.request.Request | None:
            if urlsplit(newurl).scheme.lower() not in ("http", "https"):
                raise _download_failed(
                    "The URL redirected to a location that is not http or https.",
                    retryable=False,
                )
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    class WatchedHTTP(http.client.HTTPConnection):
        def connect(self) -> None:
            self.timeout = min(float(self.timeout or watchdog.seconds), watchdog.remaining())
            super().connect()
            watchdog.watch(self.sock)

    class WatchedHTTPS(http.client.HTTPSConnection):
        def connect(self) -> None:
            self.timeout = min(float(self.timeout or watchdog.seconds), watchdog.remaining())
            super().connect()
            watchdog.watch(self.sock)

    class HTTPHandler(urllib.request.HTTPHandler):
        def http_open(self, req: urllib.request.Request) -> Any:
            return self.do_open(WatchedHTTP, req)

    class HTTPSHandler(urllib.request.HTTPSHandler):
        def https_open(self, req: urllib.request.Request) -> Any:
            return self.do_open(WatchedHTTPS, req, context=self._context)  # type: ignore[attr-defined]

    return urllib.request.build_opener(WebOnlyRedirects(), HTTPHandler(), HTTPSHandler())


def _read_capped(response: Any, max_bytes: int | None, watchdog: _Watchdog) -> bytes:
    """The body, a chunk at a time (whatever arrived), refused past ``max_bytes``."""
    read = getattr(response, "read1", None) or response.read
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = read(_CHUNK)
        if watchdog.expired:
            raise _timed_out(watchdog.seconds)
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if max_bytes is not None and total > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)


def fetch_url(
    url: str,
    *,
    timeout: float = 60.0,
    max_bytes: int | None = None,
    allow_file: bool = False,
) -> tuple[int, dict[str, str], bytes]:
    """GET ``url`` with no credentials: ``(status, lower-cased headers, body)``.

    HTTP error statuses are returned, not raised. ``timeout`` bounds the whole
    exchange (connect, headers, body, redirects) and breaking it raises
    ``TIMEOUT``; any other request that got no answer, or a body over
    ``max_bytes``, raises ``ASSET_DOWNLOAD_FAILED``. Messages never contain the
    URL. ``file://`` URLs are read from disk only when ``allow_file``.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "file":
        if not allow_file:
            raise _download_failed(
                "file:// asset URLs are only readable in embedded mode.", retryable=False
            )
        return _read_file_url(parts.netloc, parts.path, max_bytes)
    if scheme not in ("http", "https") or not parts.hostname:
        raise _download_failed("The URL is not an http(s) URL.", retryable=False)
    import urllib.error

    request = urllib.request.Request(
        url, method="GET", headers={"user-agent": USER_AGENT, "accept": "*/*"}
    )
    with _Watchdog(timeout) as watchdog:
        try:
            with _opener(watchdog).open(request, timeout=timeout) as response:
                headers = {k.lower(): v for k, v in response.getheaders()}
                declared = headers.get("content-length", "")
                if max_bytes is not None and declared.isdigit() and int(declared) > max_bytes:
                    raise _too_large(max_bytes)
                body = _read_capped(response, max_bytes, watchdog)
                return int(response.status), headers, body
        except urllib.error.HTTPError as exc:
            if watchdog.expired:
                raise _timed_out(timeout) from None
            headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
            return int(exc.code), headers, b""
        except ImageSkillError:
            raise
        except (OSError, http.client.HTTPException, ValueError) as exc:
            if watchdog.expired or isinstance(exc, TimeoutError) or _timed_out_reason(exc):
                raise _timed_out(timeout) from None
            raise _download_failed("The URL could not be fetched.") from None


def _timed_out_reason(exc: BaseException) -> bool:
    """urllib wraps a connect timeout in URLError(reason=TimeoutError)."""
    return isinstance(getattr(exc, "reason", None), TimeoutError)


def _read_file_url(
    netloc: str, path: str, max_bytes: int | None
) -> tuple[int, dict[str, str], bytes]:
    if netloc not in ("", "localhost"):
        raise _download_failed("Remote file:// URLs are not supported.", retryable=False)
    from urllib.request import url2pathname

    local = url2pathname(path)
    try:
        size = os.path.getsize(local)
        if max_bytes is not None and size > max_bytes:
            raise _too_large(max_bytes)
        with open(local, "rb") as handle:
            body = handle.read() if max_bytes is None else handle.read(max_bytes + 1)
    except FileNotFoundError:
        return 404, {}, b""
    except OSError as exc:
        raise _download_failed("The local asset file could not be read.", retryable=False) from exc
    if max_bytes is not None and len(body) > max_bytes:
        raise _too_large(max_bytes)
    headers = {"content-length": str(len(body))}
    import mimetypes

    mime = mimetypes.guess_type(local)[0]
    if mime:
        headers["content-type"] = mime
    return 200, headers, body
