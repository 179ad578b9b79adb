"""A zero-latency fake OpenAI Images upstream for the gateway benchmark.

A raw ASGI app (no framework) on uvicorn, so the upstream is never the
bottleneck: every ``POST /v1/images/generations`` (or ``/edits``) is answered at
once with the same precomputed body, a real PNG as ``b64_json`` (64x64, or
EDGE px square of noise: about the size of a provider's image), whatever the
request says. The tests' fake (``tests/fakes/openai_api.py``) parses and
records every request on a thread per connection; that is right for tests and
too slow to measure a gateway against.

Run: ``.venv/bin/python -m bench._upstream PORT [EDGE]`` (bench/gateway.py does it).
"""

from __future__ import annotations

import base64
import io
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from PIL import Image

Scope = dict[str, Any]
Message = dict[str, Any]


def _body(edge: int) -> bytes:
    buffer = io.BytesIO()
    image = (
        Image.new("RGB", (64, 64), (30, 144, 255))
        if edge == 64
        else Image.effect_noise((edge, edge), 40).convert("RGB")
    )
    image.save(buffer, format="PNG")
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return json.dumps(
        {
            "created": int(time.time()),
            "data": [{"b64_json": encoded}],
            "usage": {"input_tokens": 10, "output_tokens": 272, "total_tokens": 282},
        }
    ).encode()


BODY = _body(int(sys.argv[2]) if __name__ == "__main__" and len(sys.argv) > 2 else 64)
HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(BODY)).encode()),
    (b"x-request-id", b"req_bench"),
]


async def app(
    scope: Scope,
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    """Drain the request body, answer the canned image."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = bool(message.get("more_body"))
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


def main() -> None:
    """Serve on 127.0.0.1:PORT."""
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")


if __name__ == "__main__":
    main()
