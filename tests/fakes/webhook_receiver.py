"""A webhook receiver on loopback: records every POST and answers scripted statuses.

It verifies nothing itself; tests verify what it recorded with the
``standardwebhooks`` package, exactly as a customer's receiver would.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from standardwebhooks.webhooks import Webhook

from tests.fakes.loopback import serving


@dataclass
class Received:
    """One request as it arrived: lower-cased headers and the raw body."""

    path: str
    headers: dict[str, str]
    body: bytes

    def verified(self, secret: str) -> Any:
        """The JSON payload if the Standard Webhooks signature holds for ``secret``, else raises."""
        return Webhook(secret).verify(self.body, self.headers)


@dataclass
class Receiver:
    """What the receiver got, and the statuses it will answer next (then 200)."""

    url: str
    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer_next(self, *statuses: int) -> None:
        """Answer the next requests with ``statuses``, in order."""
        with self.lock:
            self.statuses.extend(statuses)


@contextmanager
def webhook_receiver(path: str = "/hooks/image-skill") -> Iterator[Receiver]:
    """A receiver at ``http://127.0.0.1:<port><path>`` for the duration of the block."""
    receiver: Receiver | None = None

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            assert receiver is not None
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            headers = {name.lower(): value for name, value in self.headers.items()}
            with receiver.lock:
                receiver.received.append(Received(self.path, headers, body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
            self.send_response(status)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *_args: Any) -> None:
            pass

    with serving(Handler) as base_url:
        receiver = Receiver(base_url + path)
        yield receiver
