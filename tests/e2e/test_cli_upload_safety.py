"""The CLI checks a local input before sending it, and its fetches keep a deadline.

Each test drives the real CLI against loopback servers that record what reached
them: a text file (think ``/etc/shadow``) must not reach the service at all, a
pipe must not hang the command, and a server that trickles one byte a second
must not hold ``upload URL`` or ``assets get`` past the overall deadline.
"""

from __future__ import annotations

import io
import json
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from PIL import Image

from tests.fakes.loopback import serving
from tests.support.cli import RunCli
from tests.support.envelopes import assert_envelope

TOKEN = "isk_r_test_token_that_is_never_checked_here"
DEADLINE_SECONDS = 2.0
MARGIN_SECONDS = 4.0  # process start-up plus a slow shared machine


class Recorder:
    """Every request line a loopback server saw."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.lock = threading.Lock()

    def add(self, line: str) -> None:
        with self.lock:
            self.requests.append(line)


def recording_api(recorder: Recorder) -> type[BaseHTTPRequestHandler]:
    """A stand-in service that records requests and answers every one with an error."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            recorder.add(f"{self.command} {self.path}")
            length = int(self.headers.get("content-length") or 0)
            if length:
                self.rfile.read(length)
            body = json.dumps({"ok": False, "error": {"code": "NOT_FOUND"}}).encode()
            self.send_response(404)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *_args: object) -> None:
            pass

    return Handler


@pytest.fixture
def recorded() -> Iterator[tuple[str, Recorder]]:
    recorder = Recorder()
    with serving(recording_api(recorder)) as base_url:
        yield base_url, recorder


def hosted(base_url: str, **extra: str) -> dict[str, str]:
    return {"IMAGE_SKILL_API_BASE_URL": base_url, "IMAGE_SKILL_TOKEN": TOKEN, **extra}


def refused(run: RunCli, *args: str, env: dict[str, str], code: str, exit_code: int) -> str:
    result = run(*args, "--json", env=env, timeout=30)
    assert result.exit_code == exit_code, (result.stdout, result.stderr)
    assert_envelope(result.envelope, ok=False)
    assert result.code == code, result.envelope
    return str(result.envelope["error"]["message"])


def test_a_text_file_is_refused_before_any_byte_is_sent(
    cli: RunCli, tmp_path: Path, recorded: tuple[str, Recorder]
) -> None:
    base_url, recorder = recorded
    secret_dir = tmp_path / "etc-secret"
    secret_dir.mkdir()
    shadow = secret_dir / "shadow.png"  # a name that claims to be an image changes nothing
    shadow.write_text("root:$6$c2FsdA$hashhashhash:19000:0:99999:7:::\n")
    env = hosted(base_url)
    for command in (("upload", str(shadow)), ("edit", "--input", str(shadow), "--prompt", "x")):
        message = refused(cli, *command, env=env, code="UPLOAD_MIME_TYPE_UNKNOWN", exit_code=2)
        assert "shadow" not in message and "etc-secret" not in message
        assert "PNG, JPEG, WebP, GIF or AVIF" in message
    assert recorder.requests == []


def test_pipes_directories_and_devices_are_refused_without_blocking(
    cli: RunCli, tmp_path: Path, recorded: tuple[str, Recorder]
) -> None:
    base_url, recorder = recorded
    fifo = tmp_path / "input.png"
    os.mkfifo(fifo)  # nobody ever writes: reading it would block forever
    for path in (str(fifo), str(tmp_path), "/dev/zero"):
        started = time.monotonic()
        message = refused(
            cli, "upload", path, env=hosted(base_url), code="INVALID_ARGUMENTS", exit_code=2
        )
        assert time.monotonic() - started < 15
        # Named as what it is, with the path the user typed (the message stays local).
        what = "is a directory" if path == str(tmp_path) else "is not a regular file"
        assert f"The input '{path}' {what}" in message, message
    assert recorder.requests == []


def test_a_real_image_is_still_sent(
    cli: RunCli, tmp_path: Path, recorded: tuple[str, Recorder]
) -> None:
    base_url, recorder = recorded
    picture = tmp_path / "picture.bin"  # the bytes decide, not the extension
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (1, 2, 3)).save(buffer, format="PNG")
    picture.write_bytes(buffer.getvalue())
    cli("upload", str(picture), "--json", env=hosted(base_url), timeout=30)
    assert recorder.requests == ["POST /v1/upload"]


PNG_HEAD = b"\x89PNG\r\n\x1a\n"


def trickling(asset_url_path: str, *, in_headers: bool) -> type[BaseHTTPRequestHandler]:
    """Answers ``/v1/assets/...`` at once; trickles ``asset_url_path`` one byte a second."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/v1/assets/"):
                self._asset()
            else:
                self._trickle()

        def _asset(self) -> None:
            host = self.headers.get("host")
            asset = {
                "asset_id": "image_trickle",
                "url": f"http://{host}{asset_url_path}",
                "content_length": 1000,
                "mime_type": "image/png",
            }
            body = json.dumps(
                {
                    "ok": True,
                    "command": "image-skill assets show",
                    "trace_id": "trace_0000000000000000",
                    "actor": None,
                    "data": {"asset": asset},
                    "warnings": [],
                    "error": None,
                }
            ).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("x-image-skill-exit-code", "0")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _trickle(self) -> None:
            head = b"HTTP/1.1 200 OK\r\ncontent-type: image/png\r\ncontent-length: 1000\r\n\r\n"
            payload = (head if in_headers else b"") + PNG_HEAD + b"\x00" * 992
            if not in_headers:
                self.wfile.write(head)
            for index in range(len(payload)):  # one byte a second, for up to ~17 minutes
                try:
                    self.wfile.write(payload[index : index + 1])
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(1)

        def log_message(self, *_args: object) -> None:
            pass

    return Handler


@pytest.mark.parametrize("in_headers", [False, True], ids=["body", "headers"])
def test_upload_from_a_trickling_url_times_out_at_the_deadline(
    cli: RunCli, in_headers: bool, recorded: tuple[str, Recorder]
) -> None:
    api_url, recorder = recorded
    with serving(trickling("/slow.png", in_headers=in_headers)) as slow_url:
        env = hosted(api_url, IMAGE_SKILL_DOWNLOAD_TIMEOUT_SECONDS=str(DEADLINE_SECONDS))
        started = time.monotonic()
        message = refused(
            cli, "upload", f"{slow_url}/slow.png", env=env, code="TIMEOUT", exit_code=8
        )
        elapsed = time.monotonic() - started
    assert elapsed < DEADLINE_SECONDS + MARGIN_SECONDS, elapsed
    assert "127.0.0.1" not in message and "slow.png" not in message
    assert recorder.requests == []  # nothing reached the service


@pytest.mark.parametrize("in_headers", [False, True], ids=["body", "headers"])
def test_assets_get_from_a_trickling_url_times_out_at_the_deadline(
    cli: RunCli, tmp_path: Path, in_headers: bool
) -> None:
    output = tmp_path / "out.png"
    with serving(trickling("/a/image_trickle.png", in_headers=in_headers)) as base_url:
        env = hosted(base_url, IMAGE_SKILL_DOWNLOAD_TIMEOUT_SECONDS=str(DEADLINE_SECONDS))
        started = time.monotonic()
        refused(
            cli,
            "assets",
            "get",
            "image_trickle",
            "--output",
            str(output),
            env=env,
            code="TIMEOUT",
            exit_code=8,
        )
        elapsed = time.monotonic() - started
    assert elapsed < DEADLINE_SECONDS + MARGIN_SECONDS, elapsed
    assert not output.exists()
