"""Answering with an error envelope from a pure ASGI middleware.

The abuse middlewares run before routing and outside the app's exception
handlers, so they cannot raise ``ImageSkillError`` and have it turned into an
envelope; they answer through the same ``error_response`` instead.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from image_skill.contract.errors import ImageSkillError
from image_skill.service.responses import error_response


async def send_error(
    scope: Scope, receive: Receive, send: Send, error: ImageSkillError, *, close: bool = False
) -> None:
    """Send ``error`` as the envelope response to this request.

    ``close`` ends the connection after the answer, so the server stops
    receiving (and discarding) the rest of a body it refused.
    """
    headers = {"connection": "close"} if close else None
    response = error_response(Request(scope, receive), error, extra_headers=headers)
    await response(scope, receive, send)
