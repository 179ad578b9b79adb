"""One exchange with an ASGI app in this process, answered as a ``RawResponse``.

The embedded transport (the CLI running the service in-process) and the
loopback transport (the ``/v1/cli`` bridge calling its own app) differ only in
which event loop runs the exchange and how long a client lives; the exchange
itself, and its conversion to the SDK's ``RawResponse``, is this module.
"""

from __future__ import annotations

from typing import Any

import httpx

from image_skill.transport import RawResponse, TransportError, describe

# httpx's own default peer address for ASGI calls.
DEFAULT_CLIENT = ("127.0.0.1", 123)


def asgi_client(
    app: Any, *, base_url: str, client: tuple[str, int] = DEFAULT_CLIENT
) -> httpx.AsyncClient:
    """An httpx client that dispatches to ``app`` in-process (no socket); ``client`` is the peer."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=client)
    return httpx.AsyncClient(transport=transport, base_url=base_url)


async def exchange(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes | None,
) -> RawResponse:
    """Send one request through ``client``; ``TransportError`` if no answer came back."""
    try:
        response = await client.request(method, path, headers=headers, content=body)
    except httpx.TransportError as exc:  # pragma: no cover - ASGITransport rarely raises
        raise TransportError(f"The in-process call failed ({describe(exc)}).") from exc
    return RawResponse(
        response.status_code,
        {k.lower(): v for k, v in response.headers.items()},
        response.content,
    )
