"""Turning service results and errors into envelope responses.

Every JSON answer of the service is an envelope rendered here, so the encoder is
chosen once: ``EnvelopeResponse`` renders with orjson (several times faster than
the standard library on the envelope's dicts and lists) and keeps what clients
parse unchanged: the same keys in the same order, UTF-8 text rather than ``\\u``
escapes, the shortest float that round-trips, integer dict keys as strings.
Two differences can never reach a client as invalid JSON: an out-of-range float
(NaN, infinity) is ``null`` instead of a server error, and a value orjson cannot
encode (an integer past 64 bits) falls back to the standard library's encoding.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import JSONResponse

from image_skill.contract.envelope import EXIT_CODE_HEADER, TRACE_HEADER, failure, success
from image_skill.contract.errors import ImageSkillError
from image_skill.contract.ids import new_trace_id
from image_skill.service.guide.links import point_docs_here
from image_skill.service.outcome import Outcome

DEFAULT_COMMAND = "image-skill api"
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS


class EnvelopeResponse(JSONResponse):
    """A ``JSONResponse`` rendered by orjson, with the standard library as its fallback."""

    def render(self, content: Any) -> bytes:
        """The body bytes: compact UTF-8 JSON, ``null`` for NaN and infinities."""
        try:
            return orjson.dumps(content, option=_ORJSON_OPTIONS)
        except TypeError:  # orjson.JSONEncodeError: e.g. an integer past 64 bits
            return super().render(content)


def trace_id_of(request: Request) -> str:
    """The request's trace id, minted on first use."""
    trace_id: str | None = getattr(request.state, "trace_id", None)
    if trace_id is None:
        trace_id = new_trace_id()
        request.state.trace_id = trace_id
    return trace_id


def command_of(request: Request) -> str:
    """The CLI command a route answers for (its route name), for the envelope."""
    route = request.scope.get("route")
    name = getattr(route, "name", None)
    return name if isinstance(name, str) and name.startswith("image-skill") else DEFAULT_COMMAND


def actor_of(request: Request) -> dict[str, Any] | None:
    """The envelope actor of an authenticated request, if any."""
    principal = getattr(request.state, "principal", None)
    return None if principal is None else principal.envelope_actor()


def envelope_response(
    request: Request,
    data: Any,
    *,
    status_code: int = 200,
    warnings: list[Any] | None = None,
    actor: dict[str, Any] | None = None,
) -> JSONResponse:
    """A success envelope with the exit-code and trace headers."""
    trace_id = trace_id_of(request)
    body = success(
        command_of(request),
        data,
        trace_id=trace_id,
        actor=actor if actor is not None else actor_of(request),
        warnings=warnings,
    )
    headers = {EXIT_CODE_HEADER: "0", TRACE_HEADER: trace_id}
    return EnvelopeResponse(body, status_code=status_code, headers=headers)


def outcome_response(request: Request, outcome: Outcome[Any]) -> JSONResponse:
    """The success envelope of a service's ``Outcome``: its data, warnings and status."""
    return envelope_response(
        request, outcome.data, status_code=outcome.status_code, warnings=outcome.warnings
    )


def error_response(
    request: Request, error: ImageSkillError, *, extra_headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """An error envelope whose status and exit code come from the error code.

    ``extra_headers`` (e.g. ``Allow`` on a 405) are added; the envelope headers always win.
    """
    trace_id = trace_id_of(request)
    body = failure(command_of(request), error, trace_id=trace_id, actor=actor_of(request))
    settings = getattr(request.app.state, "settings", None)
    point_docs_here(body["error"], getattr(settings, "public_base_url", None))
    headers = {
        **(extra_headers or {}),
        EXIT_CODE_HEADER: str(error.exit_code),
        TRACE_HEADER: trace_id,
    }
    retry_after = (error.recovery or {}).get("retry_after_seconds")
    if retry_after is not None:
        headers["retry-after"] = str(int(retry_after))
    return EnvelopeResponse(body, status_code=error.http_status, headers=headers)
