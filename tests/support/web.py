"""A tiny loopback web server playing "somewhere on the web", and token-free fetches.

Asset URLs are fetched without any token, as a stranger would.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from tests.fakes.loopback import serving


def file_url_path(url: str) -> Path:
    """The local path of a ``file://`` URL."""
    assert url.startswith("file://"), url
    return Path(url2pathname(urlsplit(url).path))


def fetch(url: str) -> bytes:
    """The bytes behind an asset URL, fetched like a stranger would: no token at all."""
    if url.startswith("file://"):
        return file_url_path(url).read_bytes()
    request = urllib.request.Request(url)  # deliberately no Authorization header
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        body: bytes = response.read()
        return body


@dataclass
class WebServer:
    """Serves ``files`` (path -> bytes) on loopback and remembers every request."""

    files: dict[str, bytes]
    base_url: str = ""
    hits: list[str] = field(default_factory=list)


@contextmanager
def web_server(files: dict[str, bytes]) -> Iterator[WebServer]:
    """``files`` served as PNGs on loopback for the duration of the block."""
    state = WebServer(files)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.hits.append(self.path)
            body = state.files.get(self.path.split("?", 1)[0])
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with serving(Handler) as base_url:
        state.base_url = base_url
        yield state
