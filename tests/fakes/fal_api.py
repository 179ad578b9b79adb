"""A local fake of fal's queue API, for tests.

``FakeFal`` is a real HTTP server on a loopback port (a background thread) that
speaks fal's documented queue wire format, so the adapter runs unchanged once
``FAL_QUEUE_RUN_HOST`` names ``fake.host``:

* ``POST /{owner}/{app}[/{path}]`` (``Authorization: Key <key>``, 401 otherwise):
  a JSON body in, ``{"request_id", "status": "IN_QUEUE", "queue_position",
  "response_url", "status_url", "cancel_url"}`` out; the result URLs name only
  ``{owner}/{app}``, as fal's do.
* ``GET .../requests/{id}/status``: ``IN_QUEUE`` (with ``queue_position``), then
  ``IN_PROGRESS`` (with ``logs``), then ``COMPLETED`` (with ``logs`` and
  ``metrics``); 202 while pending, 200 when complete.
* ``GET .../requests/{id}``: ``{"images": [{"url", "content_type", "width",
  "height"}], "seed", "has_nsfw_concepts", "prompt"}``, or the injected error.
* ``PUT .../requests/{id}/cancel``: recorded; the request then ends with fal's
  cancellation error (a held request is let go).
* ``GET /files/{id}/{n}.png``: the output images (real PNGs made by Pillow).

Every submit is recorded (endpoint, JSON body, Authorization). Tests script the
next request (``outcome``), inject errors for the next submit or the next N
status polls, hold a request pending (``never``, or ``hold`` until ``release``:
how a test kills the process polling it and lets a resumed executor finish it),
wait for a submit (``wait_for_submits``) and run a callback on each status poll.
"""

from __future__ import annotations

import io
import json
import secrets
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image

# fal's presets, as the flux endpoints document them.
IMAGE_SIZES = {
    "square_hd": (1024, 1024),
    "square": (512, 512),
    "landscape_4_3": (1024, 768),
    "portrait_4_3": (768, 1024),
    "landscape_16_9": (1024, 576),
    "portrait_16_9": (576, 1024),
}
SCALE = 16  # the fake draws 1/16 of the nominal size to stay fast


@dataclass
class Injected:
    """An HTTP error answer."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Outcome:
    """How the next submitted request ends.

    ``kind``: ``ok``; ``error`` (the result endpoint answers ``error``);
    ``nsfw`` (every image flagged); ``never`` (stays ``IN_QUEUE``); ``hold``
    (stays ``IN_QUEUE`` until ``FakeFal.release``, then completes like ``ok``).
    """

    kind: str = "ok"
    error: Injected | None = None


@dataclass
class QueuedRequest:
    request_id: str
    endpoint: str
    arguments: dict[str, Any]
    outcome: Outcome
    polls: int = 0
    images: list[bytes] = field(default_factory=list)
    held: bool = False
    canceled: bool = False


@dataclass
class Submit:
    """One recorded submit."""

    endpoint: str
    arguments: dict[str, Any]
    authorization: str | None


class FakeFal:
    """The fake queue; ``with FakeFal(key) as fal: ...``."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.submits: list[Submit] = []
        self.cancels: list[str] = []
        self.requests: dict[str, QueuedRequest] = {}
        self.outcome = Outcome()
        self.submit_error: Injected | None = None
        self.status_errors: deque[Injected] = deque()
        self.status_error_count = 0
        self.on_status: Callable[[str], None] | None = None
        self.status_callback_errors: list[BaseException] = []
        self.file_requests = 0
        self.lock = threading.Lock()
        self.submitted = threading.Condition(self.lock)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        """``127.0.0.1:<port>``, the value for ``FAL_QUEUE_RUN_HOST``."""
        return f"127.0.0.1:{self.server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def release(self) -> None:
        """Let every held request complete (its next status poll starts the countdown)."""
        with self.lock:
            for queued in self.requests.values():
                if queued.held:
                    queued.held = False
                    queued.polls = 0

    def wait_for_submits(self, count: int, timeout: float) -> bool:
        """Block until ``count`` requests were accepted (False on timeout)."""
        with self.submitted:
            return self.submitted.wait_for(lambda: len(self.requests) >= count, timeout)

    def __enter__(self) -> FakeFal:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    # -- the wire --------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def _send(
                self,
                status: int,
                body: Any,
                headers: dict[str, str] | None = None,
                content_type: str = "application/json",
            ) -> None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def _send_error(self, injected: Injected) -> None:
                body = injected.body if injected.body is not None else {"detail": "error"}
                self._send(injected.status, body, injected.headers)

            def _authorized(self) -> bool:
                if self.headers.get("Authorization") == f"Key {fake.key}":
                    return True
                self._send(401, {"detail": "Invalid key"})
                return False

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                endpoint = self.path.strip("/").split("?")[0]
                auth = self.headers.get("Authorization")
                with fake.lock:
                    fake.submits.append(Submit(endpoint, json.loads(raw or b"{}"), auth))
                    injected, fake.submit_error = fake.submit_error, None
                if not self._authorized():
                    return
                if injected is not None:
                    self._send_error(injected)
                    return
                owner, app = endpoint.split("/")[:2]
                request_id = secrets.token_hex(8) + "-fal"
                with fake.lock:
                    queued = QueuedRequest(
                        request_id, endpoint, fake.submits[-1].arguments, fake.outcome
                    )
                    queued.held = queued.outcome.kind == "hold"
                    fake.requests[request_id] = queued
                    fake.outcome = Outcome()
                    fake.submitted.notify_all()
                base = f"{fake.url}/{owner}/{app}/requests/{request_id}"
                self._send(
                    200,
                    {
                        "request_id": request_id,
                        "status": "IN_QUEUE",
                        "queue_position": 0,
                        "response_url": base,
                        "status_url": base + "/status",
                        "cancel_url": base + "/cancel",
                    },
                )

            def do_PUT(self) -> None:
                parts = self.path.strip("/").split("/")
                if not self._authorized():
                    return
                if len(parts) == 5 and parts[4] == "cancel":
                    with fake.lock:
                        fake.cancels.append(parts[3])
                        queued = fake.requests.get(parts[3])
                        if queued is not None:
                            queued.canceled, queued.held = True, False
                    self._send(202, {"status": "CANCELLATION_REQUESTED"})
                    return
                self._send(404, {"detail": "not found"})

            def do_GET(self) -> None:
                parts = self.path.split("?")[0].strip("/").split("/")
                if parts[0] == "files" and len(parts) == 3:
                    self._file(parts[1], parts[2])
                    return
                if not self._authorized():
                    return
                if len(parts) >= 4 and parts[2] == "requests":
                    queued = fake.requests.get(parts[3])
                    if queued is None:
                        self._send(404, {"detail": "Request not found"})
                    elif len(parts) == 5 and parts[4] == "status":
                        self._status(queued)
                    elif len(parts) == 4:
                        self._result(queued)
                    else:
                        self._send(404, {"detail": "not found"})
                    return
                self._send(404, {"detail": "not found"})

            def _status(self, queued: QueuedRequest) -> None:
                if fake.on_status is not None:
                    try:
                        fake.on_status(queued.request_id)
                    except BaseException as exc:  # surfaced by the test
                        fake.status_callback_errors.append(exc)
                with fake.lock:
                    injected = fake.status_errors.popleft() if fake.status_errors else None
                    if injected is not None:
                        fake.status_error_count += 1
                    queued.polls += 1
                    polls = queued.polls
                if injected is not None:
                    self._send_error(injected)
                elif queued.canceled:
                    self._send(200, {"status": "COMPLETED", "logs": None, "metrics": {}})
                elif queued.outcome.kind == "never" or queued.held or polls == 1:
                    self._send(202, {"status": "IN_QUEUE", "queue_position": 0})
                elif polls == 2:
                    self._send(202, {"status": "IN_PROGRESS", "logs": None})
                else:
                    self._send(200, {"status": "COMPLETED", "logs": None, "metrics": {}})

            def _result(self, queued: QueuedRequest) -> None:
                outcome = queued.outcome
                if queued.canceled:
                    self._send(400, {"detail": "Request was cancelled", "error_type": "cancelled"})
                    return
                if outcome.kind == "error" and outcome.error is not None:
                    self._send_error(outcome.error)
                    return
                if outcome.kind == "never" or queued.held:
                    self._send(400, {"detail": "Request is still in progress"})
                    return
                self._send(200, fake.result_of(queued))

            def _file(self, request_id: str, name: str) -> None:
                queued = fake.requests.get(request_id)
                index = name.split(".")[0]
                with fake.lock:
                    fake.file_requests += 1
                if queued is None or not index.isdigit() or int(index) >= len(queued.images):
                    self._send(404, {"detail": "not found"})
                    return
                self._send(200, queued.images[int(index)], content_type="image/png")

        return Handler

    # -- results ---------------------------------------------------------------------------

    def result_of(self, queued: QueuedRequest) -> dict[str, Any]:
        """The documented result shape; images are drawn once and served from /files/."""
        args = queued.arguments
        count = int(args.get("num_images", 1))
        width, height = IMAGE_SIZES.get(str(args.get("image_size")), (1024, 1024))
        width, height = width // SCALE, height // SCALE
        seed = int(args.get("seed", 42))
        if not queued.images:
            queued.images = [_png(width, height, ((seed + i) % 256, 90, 160)) for i in range(count)]
        return {
            "images": [
                {
                    "url": f"{self.url}/files/{queued.request_id}/{i}.png",
                    "content_type": "image/png",
                    "width": width,
                    "height": height,
                }
                for i in range(count)
            ],
            "seed": seed,
            "has_nsfw_concepts": [queued.outcome.kind == "nsfw"] * count,
            "prompt": args.get("prompt", ""),
        }


def _png(width: int, height: int, color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()
