"""Error codes and the one exception type that carries them.

Every failure, on the server or in the CLI, ends up as an ``ImageSkillError``
whose ``code`` decides the HTTP status and the process exit code, so the two
halves can never disagree about what a failure means::

    ImageSkillError(code, message, recovery)
     ├── raised by service domains (identity, quota, creative, credits …)
     ├── raised by provider adapters after mapping vendor errors
     └── raised by the SDK for transport failures (HOSTED_API_REQUEST_FAILED)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ErrorSpec:
    """How one error code travels: its HTTP status, exit code and retry hint."""

    http_status: int
    exit_code: int
    retryable: bool = False


_GENERIC = ErrorSpec(500, 1)

ERROR_SPECS: dict[str, ErrorSpec] = {
    # exit 1: generic
    "NOT_FOUND": ErrorSpec(404, 1),
    "CONFLICT": ErrorSpec(409, 1),
    "QUOTE_EXPIRED": ErrorSpec(409, 1),
    "QUOTE_CONSUMED": ErrorSpec(409, 1),
    "INTERNAL_ERROR": ErrorSpec(500, 1, retryable=True),
    "JOB_INTERRUPTED": ErrorSpec(500, 1, retryable=True),
    "PUBLIC_CLI_FAILED": ErrorSpec(500, 1),
    # CONTRACT.md: exit 1 travels as 404/409/500 (a 503 would read as exit 7 without the header).
    "FEEDBACK_STORAGE_UNAVAILABLE": ErrorSpec(500, 1, retryable=True),
    # exit 2: invalid arguments
    "INVALID_ARGUMENTS": ErrorSpec(400, 2),
    "PUBLIC_CLI_COMMAND_NOT_AVAILABLE": ErrorSpec(400, 2),
    "METHOD_NOT_ALLOWED": ErrorSpec(405, 2),
    "MODEL_NOT_FOUND": ErrorSpec(400, 2),
    "MODEL_PARAMETERS_INVALID": ErrorSpec(400, 2),
    "IDEMPOTENCY_KEY_REUSED": ErrorSpec(400, 2),
    "UPLOAD_MIME_TYPE_UNKNOWN": ErrorSpec(400, 2),
    "PAYMENT_CREDENTIALS_REFUSED": ErrorSpec(400, 2),
    "PAYLOAD_TOO_LARGE": ErrorSpec(413, 2),
    # exit 3: auth
    "AUTH_REQUIRED": ErrorSpec(401, 3),
    "AUTH_INVALID": ErrorSpec(401, 3),
    "TOKEN_REVOKED": ErrorSpec(401, 3),
    # exit 4: capability denied
    "CAPABILITY_DENIED": ErrorSpec(403, 4),
    "CLAIM_REQUIRED": ErrorSpec(403, 4),
    "BUDGET_REQUIRES_CONFIRMATION": ErrorSpec(403, 4),
    "BUDGET_CAP_EXCEEDED": ErrorSpec(403, 4),
    "MODEL_NOT_CONFIGURED": ErrorSpec(403, 4),
    "PAYMENT_PROVIDER_NOT_CONFIGURED": ErrorSpec(403, 4),
    # exit 5: quota
    "QUOTA_EXCEEDED": ErrorSpec(402, 5),
    "INSUFFICIENT_CREDITS": ErrorSpec(402, 5),
    "DAILY_JOB_CAP_REACHED": ErrorSpec(429, 5),
    "RATE_LIMITED": ErrorSpec(429, 5, retryable=True),
    # exit 6: content policy
    "CONTENT_POLICY_DENIED": ErrorSpec(422, 6),
    "INPUT_POLICY_DENIED": ErrorSpec(422, 6),
    # exit 7: provider / upstream
    "PROVIDER_FAILED": ErrorSpec(502, 7, retryable=True),
    "PROVIDER_UNAVAILABLE": ErrorSpec(503, 7, retryable=True),
    "SERVICE_UNAVAILABLE": ErrorSpec(503, 7, retryable=True),
    "HOSTED_API_REQUEST_FAILED": ErrorSpec(503, 7, retryable=True),
    "ASSET_DOWNLOAD_FAILED": ErrorSpec(502, 7, retryable=True),
    # exit 8: timeout
    "TIMEOUT": ErrorSpec(504, 8, retryable=True),
    "PROVIDER_TIMEOUT": ErrorSpec(504, 8, retryable=True),
    # exit 9: filesystem / artifact storage
    "ARTIFACT_STORAGE_WRITE_FAILED": ErrorSpec(507, 9),
    "OUTPUT_EXISTS": ErrorSpec(507, 9),
    "UPLOAD_ASSET_ID_MISSING": ErrorSpec(507, 9),
    "LOCAL_FILE_ERROR": ErrorSpec(507, 9),
}


def spec_for(code: str) -> ErrorSpec:
    """The transport rules of ``code``; unknown codes are generic failures."""
    return ERROR_SPECS.get(code, _GENERIC)


def exit_code_for_status(status: int) -> int:
    """Exit code for a response that carried no exit-code header (CONTRACT rule)."""
    if status in (401, 403):
        return 3
    if status in (402, 429):
        return 5
    if status >= 500:
        return 7
    return 1 if status >= 400 else 0


class ImageSkillError(Exception):
    """A failure with a stable code; the only exception type that crosses layers."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        recovery: dict[str, Any] | None = None,
        retryable: bool | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.recovery = recovery
        self.details = details
        spec = spec_for(code)
        self.http_status = spec.http_status
        self.exit_code = spec.exit_code
        self.retryable = spec.retryable if retryable is None else retryable

    def to_error(self) -> dict[str, Any]:
        """The ``error`` object of the envelope."""
        error: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "retryable": self.retryable,
        }
        if self.recovery:
            error["recovery"] = self.recovery
        if self.details:
            error["details"] = self.details
        return error


def invalid_arguments(message: str, *, field: str | None = None) -> ImageSkillError:
    """Shortcut for the most common refusal, naming the offending field."""
    details = {"field": field} if field else None
    return ImageSkillError("INVALID_ARGUMENTS", message, details=details)
