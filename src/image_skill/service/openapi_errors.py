"""The error answers routes document in OpenAPI, so the spec states the real status codes.

Every error is the same envelope (``ok`` false, ``error.code``); the status
follows the code (``contract.errors``). Routers pass ``error_responses(...)``
with the statuses they can answer; every route can also answer 400 (bad
input), 413 (body too large) and 429 (rate limited). The ranges cover the
rest: ``2XX`` any success status a route does not name (each JSON route names
its own with ``envelopes.answers``), ``4XX`` (402 quota, 422 content policy)
and ``5XX`` (provider or service failures).
Declaring ``4XX`` also stops FastAPI from advertising a 422 for validation
errors, which this service answers with 400 ``INVALID_ARGUMENTS``.
"""

from __future__ import annotations

from typing import Any

from image_skill.service.envelopes import ErrorEnvelope

_WHAT = {
    400: "Invalid arguments (INVALID_ARGUMENTS and other exit-2 codes), naming the field.",
    401: "Authentication required or invalid (AUTH_REQUIRED, AUTH_INVALID, TOKEN_REVOKED).",
    403: "Not allowed (CAPABILITY_DENIED, CLAIM_REQUIRED, budget confirmations).",
    404: "Not found, or not in your organization (NOT_FOUND).",
    409: "Conflict (quote expired or already used).",
    402: "Out of credits or quota (INSUFFICIENT_CREDITS, QUOTA_EXCEEDED).",
    413: "Request body too large (PAYLOAD_TOO_LARGE).",
    422: "Refused by content policy (CONTENT_POLICY_DENIED, INPUT_POLICY_DENIED).",
    429: "Rate limited or daily cap reached (RATE_LIMITED with Retry-After).",
    503: "Temporarily unavailable; retry (SERVICE_UNAVAILABLE, PROVIDER_UNAVAILABLE).",
}
_ALWAYS = (400, 413, 429)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a router that can answer ``statuses`` besides the common ones."""
    codes = sorted({*_ALWAYS, *statuses})
    responses: dict[int | str, dict[str, Any]] = {
        code: _error(_WHAT.get(code, "An error envelope.")) for code in codes
    }
    responses["2XX"] = {"description": "A success envelope (ok true; 201/202 where noted)."}
    responses["4XX"] = _error(
        "Any other refusal, as the same envelope (402 quota, 422 content policy)."
    )
    responses["5XX"] = _error(
        "A provider or service failure, as the same envelope (502, 503, 504, 507)."
    )
    return responses


def _error(description: str) -> dict[str, Any]:
    # Errors are JSON even on a route whose answers are HTML (a served page).
    return {"model": ErrorEnvelope, "description": description, "content": {"application/json": {}}}
