"""Helpers for the CLI end-to-end tests (not a conftest).

The checks every CLI run goes through (no traceback, no token where it must not
be, one envelope per ``--json`` run) live here for all of ``tests/e2e``.

Real images are made with Pillow, a tiny stdlib HTTP server plays "somewhere on
the web", and asset URLs are fetched without any token, as a user would.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

import pytest
from PIL import Image

from conftest import CliRun, RunCli, Server, assert_envelope, start_server, stop_server
from fakes.loopback import serving

REPO_ROOT = Path(__file__).resolve().parents[2]
PLUGIN = "tests.plugins.counting_provider"
TRACEBACK = "Traceback (most recent call last)"
TOKEN_RE = re.compile(r"isk_r_[a-z2-7]{38}")
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


def expect(result: CliRun, exit_code: int, code: str | None = None) -> dict[str, Any]:
    """One envelope on stdout, the exit code, and the error code (None: success)."""
    assert result.exit_code == exit_code, result.stdout + result.stderr
    assert TRACEBACK not in result.stdout + result.stderr, result.stderr
    envelope = result.envelope
    assert_envelope(envelope, ok=code is None)
    assert result.code == code, envelope["error"]
    return envelope


def checked(cli: RunCli) -> RunCli:
    """``cli`` that also refuses tracebacks and tokens on stderr."""

    def run(*args: str, **kwargs: Any) -> CliRun:
        result = cli(*args, **kwargs)
        assert TRACEBACK not in result.stdout + result.stderr, result.stderr
        assert not TOKEN_RE.search(result.stderr), "a token leaked to stderr"
        return result

    return run


def checked_until_teardown(cli: RunCli, request: pytest.FixtureRequest) -> Iterator[RunCli]:
    """The body of a ``run`` fixture (``yield from``): ``cli`` that refuses tracebacks at
    once, and at teardown no token on any run's stderr nor in the log of the test's
    ``server`` fixture (when the test uses one)."""
    runs: list[CliRun] = []

    def run(*args: str, **kwargs: Any) -> CliRun:
        result = cli(*args, **kwargs)
        assert TRACEBACK not in result.stdout + result.stderr, result.stderr
        runs.append(result)
        return result

    yield run
    assert not [r.stderr for r in runs if TOKEN_RE.search(r.stderr)]
    if "server" in request.fixturenames:
        assert not TOKEN_RE.search(request.getfixturevalue("server").log())


def http_call(
    server: Server,
    method: str,
    path: str,
    body: Any = None,
    token: str | None = None,
    *,
    timeout: float,
) -> tuple[int, dict[str, str], bytes]:
    """One raw JSON request to ``server`` (as ``token`` if given), HTTP errors included:
    ``(status, lower-cased headers, body bytes)``."""
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(server.base_url + path, data, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, _lower(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, _lower(exc.headers), exc.read()


def _lower(headers: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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


def open_image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def png_bytes(width: int, height: int, color: tuple[int, int, int] = (200, 40, 90)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def truncated_png() -> bytes:
    """A noisy PNG cut in half: the header is fine, the pixel data is not."""
    buffer = io.BytesIO()
    Image.frombytes("RGB", (96, 96), os.urandom(96 * 96 * 3)).save(buffer, format="PNG")
    data = buffer.getvalue()
    return data[: len(data) // 2]


GPS_IFD = 0x8825


def gps_jpeg() -> bytes:
    """A JPEG whose EXIF names a camera and a place."""
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 1.0)})
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 120, 150)).save(buffer, format="JPEG", exif=exif)
    data = buffer.getvalue()
    assert open_image(data).getexif().get_ifd(GPS_IFD)  # the fixture really carries a location
    return data


# -- a tiny web server for "remote" images ----------------------------------------------


@dataclass
class WebServer:
    """Serves ``files`` (path -> bytes) on loopback and remembers every request."""

    files: dict[str, bytes]
    base_url: str = ""
    hits: list[str] = field(default_factory=list)


@contextmanager
def web_server(files: dict[str, bytes]) -> Iterator[WebServer]:
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


# -- servers and agents -------------------------------------------------------------------


def plugin_env(call_log: Path, **settings: int) -> dict[str, str]:
    """Server env that loads the counting provider and logs its calls to ``call_log``."""
    pythonpath = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
    env = {
        "PYTHONPATH": pythonpath,
        "IMAGE_SKILL_PLUGINS": PLUGIN,
        "IMAGE_SKILL_TEST_CALL_LOG": str(call_log),
    }
    env.update({f"IMAGE_SKILL_{name.upper()}": str(value) for name, value in settings.items()})
    return env


@contextmanager
def running_server(
    database_url: str, workdir: Path, extra_env: dict[str, str] | None = None
) -> Iterator[Server]:
    server = start_server(database_url, workdir, extra_env=extra_env)
    try:
        yield server
    finally:
        stop_server(server)


def provider_calls(call_log: Path) -> list[tuple[str, str, str]]:
    """``(model_id, operation, job_id)`` of every provider call the server made."""
    if not call_log.exists():
        return []
    return [
        (parts[0], parts[1], parts[2])
        for parts in (line.split() for line in call_log.read_text().splitlines())
    ]


@dataclass
class Agent:
    token: str
    actor: dict[str, Any]

    @property
    def env(self) -> dict[str, str]:
        """Env that makes a CLI act as this agent (the token wins over the saved config)."""
        return {"IMAGE_SKILL_TOKEN": self.token}


def sign_up(
    run: RunCli,
    base_url: str,
    *,
    email: str = "owner@example.com",
    name: str = "e2e-bot",
    save: bool = True,
) -> Agent:
    """``signup --agent [--save]``: with ``save`` the config now points at ``base_url``."""
    args = ["--human-email", email, "--agent-name", name, "--api-base-url", base_url]
    if save:
        args.append("--save")
    result = run("signup", "--agent", *args, "--show-token", "--json")
    envelope = expect(result, 0)
    assert envelope["actor"]["claim_state"] == "unclaimed"
    return Agent(envelope["data"]["token"], envelope["actor"])


def job_ids(run: RunCli, *extra: str, env: dict[str, str] | None = None) -> list[str]:
    """Ids of ``jobs list`` (first page of 100), newest first."""
    data = expect(run("jobs", "list", "--limit", "100", *extra, "--json", env=env), 0)["data"]
    return [job["job_id"] for job in data["jobs"]]
