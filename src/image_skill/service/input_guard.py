"""Refusing unusable query strings, paths and headers before routing.

Route code reads query values, path parameters and a few headers as ``str``
and hands them to the database and back into responses. PostgreSQL refuses
NUL bytes, decoders replace invalid percent-encoding or invalid UTF-8 with
U+FFFD behind our back, and control characters have no business in an id or
a key. This middleware looks at the raw query string and headers once, before
routing, and answers ``INVALID_ARGUMENTS`` naming the parameter (or header) for:

* a query name or value with invalid percent-encoding, or whose decoded bytes
  are not UTF-8,
* a NUL or any other control character (U+0000-U+001F, U+007F) in a decoded
  query name or value,
* a control character in any header value, or a non-ASCII byte in
  ``Authorization`` or ``Idempotency-Key`` (tokens and keys are ASCII).

Path parameters are only known once a route matched, so ``GuardedRoute``
applies the same rules to them with ``path_param_problem`` (a path that
matches no route is a 404 that touches nothing). Nothing here quotes the
offending value back.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from image_skill.contract.errors import ErrorCode, ImageSkillError
from image_skill.service.responses import error_response

_BAD_PERCENT = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")  # a tab is allowed in headers
_ASCII_ONLY_HEADERS = {b"authorization": "Authorization", b"idempotency-key": "Idempotency-Key"}
_MAX_NAME_CHARS = 100


class InputGuardMiddleware:
    """ASGI middleware: refuse malformed query strings, paths and header values."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer the refusal envelope, or pass the request on untouched."""
        if scope["type"] == "http":
            problem = _problem(scope)
            if problem is not None:
                field, message = problem
                error = ImageSkillError(
                    ErrorCode.INVALID_ARGUMENTS, message, details={"field": field}
                )
                response = error_response(Request(scope), error)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _problem(scope: Scope) -> tuple[str, str] | None:
    return _header_problem(scope) or _query_problem(scope)


def _header_problem(scope: Scope) -> tuple[str, str] | None:
    for name, value in scope.get("headers", ()):
        if _CONTROL_BYTES.search(value) is not None:
            header = _header_name(name)
            return header, f"The {header} header contains a control character."
        ascii_only = _ASCII_ONLY_HEADERS.get(name.lower())
        if ascii_only is not None and not value.isascii():
            return ascii_only, f"The {ascii_only} header must be ASCII."
    return None


def _query_problem(scope: Scope) -> tuple[str, str] | None:
    raw: bytes = scope.get("query_string", b"")
    if not raw:
        return None
    for pair in raw.split(b"&"):
        raw_name, _, raw_value = pair.partition(b"=")
        name = _decoded(raw_name)
        if name is None or _CONTROL.search(name) is not None:
            return "query", "A query parameter name is not valid percent-encoded UTF-8 text."
        field = name[:_MAX_NAME_CHARS]
        value = _decoded(raw_value)
        if value is None:
            return field, f"Query parameter {field} is not valid percent-encoded UTF-8 text."
        if _CONTROL.search(value) is not None:
            return field, f"Query parameter {field} contains a NUL or control character."
    return None


def path_param_problem(scope: Scope) -> ImageSkillError | None:
    """The refusal of a matched route's path parameters, naming the parameter, or None.

    Called by ``GuardedRoute`` once routing has split the path into parameters.
    A parameter with a NUL or control character is refused; so is one holding
    U+FFFD when the raw path was not valid percent-encoded UTF-8 (the server
    decoded it with replacement characters).
    """
    params: dict[str, object] = scope.get("path_params") or {}
    raw = scope.get("raw_path")
    raw_is_bad = raw is not None and _decoded(raw.split(b"?", 1)[0], plus_is_space=False) is None
    for name, value in params.items():
        if not isinstance(value, str):
            continue
        if _CONTROL.search(value) is not None:
            return _refusal(str(name), f"{name} contains a NUL or control character.")
        if raw_is_bad and "\ufffd" in value:
            return _refusal(str(name), f"{name} is not valid percent-encoded UTF-8 text.")
    if raw_is_bad:
        return _refusal("path", "The URL path is not valid percent-encoded UTF-8 text.")
    return None


def _refusal(field: str, message: str) -> ImageSkillError:
    return ImageSkillError(ErrorCode.INVALID_ARGUMENTS, message, details={"field": field})


def _decoded(raw: bytes, *, plus_is_space: bool = True) -> str | None:
    """Strictly percent-decoded UTF-8 text, or None when it is not that."""
    if _BAD_PERCENT.search(raw) is not None:
        return None
    if plus_is_space:
        raw = raw.replace(b"+", b" ")
    try:
        return unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return None


def _header_name(raw: bytes) -> str:
    name = raw.decode("latin-1")[:_MAX_NAME_CHARS]
    return "-".join(part.capitalize() for part in name.split("-"))
