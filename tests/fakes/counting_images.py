"""``FakeImagesAPI`` speaking HTTP/1.1 keep-alive and counting the connections it accepts.

The plain fake answers HTTP/1.0 (one connection per request), which cannot show
whether a client reuses its connections; this one keeps them open, as a real
vendor does, and counts every TCP connection accepted.
"""

from __future__ import annotations

import threading
from typing import Any

from tests.fakes.openai_api import FakeImagesAPI


class CountingImagesAPI(FakeImagesAPI):
    """The fake with keep-alive connections; ``connections`` counts accepted ones."""

    def __init__(self, expected_key: str) -> None:
        super().__init__(expected_key)
        self.connections = 0
        self._count_lock = threading.Lock()
        self._server.RequestHandlerClass.protocol_version = "HTTP/1.1"  # type: ignore[attr-defined]
        accept = self._server.process_request

        def counted(request: Any, client_address: Any) -> None:
            with self._count_lock:
                self.connections += 1
            accept(request, client_address)

        self._server.process_request = counted  # type: ignore[method-assign]
