"""Error codes and the one exception type that carries them.

Every failure, on the server or in the CLI, ends up as an ``ImageSkillError``
whose ``code`` decides the HTTP status and the process exit code, so the two
halves can never disagree about what a failure means::

    ImageSkillError(code: ErrorCode, message, recovery)
     ├── raised by service domains (identity, quota, creative, credits …)
     ├── raised by provider adapters after mapping vendor errors
     ├── raised by the SDK for transport failures (HOSTED_API_REQUEST_FAILED)
     └── read back from an envelope with ``ImageSkillError.from_wire`` (a code
         this build does not know stays the string it was, with generic rules)

Codes are ``ErrorCode`` members, so a misspelt code fails type checking
instead of silently becoming a 500.
"""

from __future__ import annotations

from enum import StrEnum

# Not ``typing.TYPE_CHECKING``: the hosted CLI imports this module on every call, and
# ``typing`` would cost it milliseconds (mypy still reads the block).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class ErrorCode(StrEnum):
    """Every code the contract knows; the value is the wire string."""

    # exit 1: generic
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    QUOTE_EXPIRED = "QUOTE_EXPIRED"
    QUOTE_CONSUMED = "QUOTE_CONSUMED"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    JOB_CANCELED = "JOB_CANCELED"
    PUBLIC_CLI_FAILED = "PUBLIC_CLI_FAILED"
    # CONTRACT.md: exit 1 travels as 404/409/500 (a 503 would read as exit 7 without the header).
    FEEDBACK_STORAGE_UNAVAILABLE = "FEEDBACK_STORAGE_UNAVAILABLE"
    # exit 2: invalid arguments
    INVALID_ARGUMENTS = "INVALID_ARGUMENTS"
    PUBLIC_CLI_COMMAND_NOT_AVAILABLE = "PUBLIC_CLI_COMMAND_NOT_AVAILABLE"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    MODEL_NOT_FOUND = "MODEL_NOT_FOUND"
    MODEL_PARAMETERS_INVALID = "MODEL_PARAMETERS_INVALID"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    UPLOAD_MIME_TYPE_UNKNOWN = "UPLOAD_MIME_TYPE_UNKNOWN"
    PAYMENT_CREDENTIALS_REFUSED = "PAYMENT_CREDENTIALS_REFUSED"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    WEBHOOK_TARGET_REFUSED = "WEBHOOK_TARGET_REFUSED"
    # exit 3: auth
    AUTH_REQUIRED = "AUTH_REQUIRED"
    AUTH_INVALID = "AUTH_INVALID"
    TOKEN_REVOKED = "TOKEN_REVOKED"
    # exit 4: capability denied
    CAPABILITY_DENIED = "CAPABILITY_DENIED"
    CLAIM_REQUIRED = "CLAIM_REQUIRED"
    BUDGET_REQUIRES_CONFIRMATION = "BUDGET_REQUIRES_CONFIRMATION"
    BUDGET_CAP_EXCEEDED = "BUDGET_CAP_EXCEEDED"
    MODEL_NOT_CONFIGURED = "MODEL_NOT_CONFIGURED"
    PAYMENT_PROVIDER_NOT_CONFIGURED = "PAYMENT_PROVIDER_NOT_CONFIGURED"
    # exit 5: quota
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    INSUFFICIENT_CREDITS = "INSUFFICIENT_CREDITS"
    DAILY_JOB_CAP_REACHED = "DAILY_JOB_CAP_REACHED"
    RATE_LIMITED = "RATE_LIMITED"
    # exit 6: content policy
    CONTENT_POLICY_DENIED = "CONTENT_POLICY_DENIED"
    INPUT_POLICY_DENIED = "INPUT_POLICY_DENIED"
    # exit 7: provider / upstream
    PROVIDER_FAILED = "PROVIDER_FAILED"
    PROVIDER_UNAVAILABLE = "PROVIDER_UNAVAILABLE"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    JOB_INTERRUPTED = "JOB_INTERRUPTED"
    HOSTED_API_REQUEST_FAILED = "HOSTED_API_REQUEST_FAILED"
    ASSET_DOWNLOAD_FAILED = "ASSET_DOWNLOAD_FAILED"
    # exit 8: timeout
    TIMEOUT = "TIMEOUT"
    PROVIDER_TIMEOUT = "PROVIDER_TIMEOUT"
    # exit 9: filesystem / artifact storage
    ARTIFACT_STORAGE_WRITE_FAILED = "ARTIFACT_STORAGE_WRITE_FAILED"
    OUTPUT_EXISTS = "OUTPUT_EXISTS"
    UPLOAD_ASSET_ID_MISSING = "UPLOAD_ASSET_ID_MISSING"
    LOCAL_FILE_ERROR = "LOCAL_FILE_ERROR"


class ErrorSpec:
    """How one error code travels: its HTTP status, exit code and retry hint.

    A slotted class, not a dataclass: ``dataclasses`` (and the ``inspect`` it
    imports) would cost every CLI call more than the rest of this module.
    """

    __slots__ = ("exit_code", "http_status", "retryable")

    def __init__(self, http_status: int, exit_code: int, retryable: bool = False) -> None:
        self.http_status = http_status
        self.exit_code = exit_code
        self.retryable = retryable

    def __repr__(self) -> str:
        return f"ErrorSpec({self.http_status}, {self.exit_code}, retryable={self.retryable})"


_GENERIC = ErrorSpec(500, 1)

ERROR_SPECS: dict[ErrorCode, ErrorSpec] = {
    # exit 1: generic
    ErrorCode.NOT_FOUND: ErrorSpec(404, 1),
    ErrorCode.CONFLICT: ErrorSpec(409, 1),
    ErrorCode.QUOTE_EXPIRED: ErrorSpec(409, 1),
    ErrorCode.QUOTE_CONSUMED: ErrorSpec(409, 1),
    ErrorCode.INTERNAL_ERROR: ErrorSpec(500, 1, retryable=True),
    ErrorCode.JOB_CANCELED: ErrorSpec(409, 1),
    ErrorCode.PUBLIC_CLI_FAILED: ErrorSpec(500, 1),
    # CONTRACT.md: exit 1 travels as 404/409/500 (a 503 would read as exit 7 without the header).
    ErrorCode.FEEDBACK_STORAGE_UNAVAILABLE: ErrorSpec(500, 1, retryable=True),
    # exit 2: invalid arguments
    ErrorCode.INVALID_ARGUMENTS: ErrorSpec(400, 2),
    ErrorCode.PUBLIC_CLI_COMMAND_NOT_AVAILABLE: ErrorSpec(400, 2),
    ErrorCode.METHOD_NOT_ALLOWED: ErrorSpec(405, 2),
    ErrorCode.MODEL_NOT_FOUND: ErrorSpec(400, 2),
    ErrorCode.MODEL_PARAMETERS_INVALID: ErrorSpec(400, 2),
    ErrorCode.IDEMPOTENCY_KEY_REUSED: ErrorSpec(400, 2),
    ErrorCode.UPLOAD_MIME_TYPE_UNKNOWN: ErrorSpec(400, 2),
    ErrorCode.PAYMENT_CREDENTIALS_REFUSED: ErrorSpec(400, 2),
    ErrorCode.PAYLOAD_TOO_LARGE: ErrorSpec(413, 2),
    ErrorCode.WEBHOOK_TARGET_REFUSED: ErrorSpec(400, 2),
    # exit 3: auth
    ErrorCode.AUTH_REQUIRED: ErrorSpec(401, 3),
    ErrorCode.AUTH_INVALID: ErrorSpec(401, 3),
    ErrorCode.TOKEN_REVOKED: ErrorSpec(401, 3),
    # exit 4: capability denied
    ErrorCode.CAPABILITY_DENIED: ErrorSpec(403, 4),
    ErrorCode.CLAIM_REQUIRED: ErrorSpec(403, 4),
    ErrorCode.BUDGET_REQUIRES_CONFIRMATION: ErrorSpec(403, 4),
    ErrorCode.BUDGET_CAP_EXCEEDED: ErrorSpec(403, 4),
    ErrorCode.MODEL_NOT_CONFIGURED: ErrorSpec(403, 4),
    ErrorCode.PAYMENT_PROVIDER_NOT_CONFIGURED: ErrorSpec(403, 4),
    # exit 5: quota
    ErrorCode.QUOTA_EXCEEDED: ErrorSpec(402, 5),
    ErrorCode.INSUFFICIENT_CREDITS: ErrorSpec(402, 5),
    ErrorCode.DAILY_JOB_CAP_REACHED: ErrorSpec(429, 5),
    ErrorCode.RATE_LIMITED: ErrorSpec(429, 5, retryable=True),
    # exit 6: content policy
    ErrorCode.CONTENT_POLICY_DENIED: ErrorSpec(422, 6),
    ErrorCode.INPUT_POLICY_DENIED: ErrorSpec(422, 6),
    # exit 7: provider / upstream
    ErrorCode.PROVIDER_FAILED: ErrorSpec(502, 7, retryable=True),
    ErrorCode.PROVIDER_UNAVAILABLE: ErrorSpec(503, 7, retryable=True),
    ErrorCode.SERVICE_UNAVAILABLE: ErrorSpec(503, 7, retryable=True),
    # CONTRACT: a job whose executor died and could not be resumed (credits released).
    ErrorCode.JOB_INTERRUPTED: ErrorSpec(503, 7, retryable=True),
    ErrorCode.HOSTED_API_REQUEST_FAILED: ErrorSpec(503, 7, retryable=True),
    ErrorCode.ASSET_DOWNLOAD_FAILED: ErrorSpec(502, 7, retryable=True),
    # exit 8: timeout
    ErrorCode.TIMEOUT: ErrorSpec(504, 8, retryable=True),
    ErrorCode.PROVIDER_TIMEOUT: ErrorSpec(504, 8, retryable=True),
    # exit 9: filesystem / artifact storage
    ErrorCode.ARTIFACT_STORAGE_WRITE_FAILED: ErrorSpec(507, 9),
    ErrorCode.OUTPUT_EXISTS: ErrorSpec(507, 9),
    ErrorCode.UPLOAD_ASSET_ID_MISSING: ErrorSpec(507, 9),
    ErrorCode.LOCAL_FILE_ERROR: ErrorSpec(507, 9),
}


_KNOWN_CODES = frozenset(ErrorCode)


def spec_for(code: str) -> ErrorSpec:
    """The transport rules of ``code``; unknown codes are generic failures."""
    return ERROR_SPECS[ErrorCode(code)] if code in _KNOWN_CODES else _GENERIC


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
        code: ErrorCode,
        message: str,
        *,
        recovery: dict[str, Any] | None = None,
        retryable: bool | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code: str = code
        self.message = message
        self.recovery = recovery
        self.details = details
        spec = spec_for(code)
        self.http_status = spec.http_status
        self.exit_code = spec.exit_code
        if retryable is None:
            # An error that says how long to wait is one that a retry can cure.
            retryable = spec.retryable or bool(recovery and "retry_after_seconds" in recovery)
        self.retryable = retryable

    @classmethod
    def from_wire(
        cls,
        code: str,
        message: str,
        *,
        recovery: dict[str, Any] | None = None,
        retryable: bool | None = None,
    ) -> ImageSkillError:
        """An error read back from an envelope, whose code may be unknown to this build."""
        from typing import cast  # only an error read back pays for typing

        # A newer server may send a code this client has never heard of: it travels
        # on as the plain string it was, with the generic rules of ``spec_for``.
        wire_code = ErrorCode(code) if code in _KNOWN_CODES else cast(ErrorCode, code)
        return cls(wire_code, message, recovery=recovery, retryable=retryable)

    def to_error(self) -> dict[str, Any]:
        """The ``error`` object of the envelope."""
        error: dict[str, Any] = {
            "code": str(self.code),
            "message": self.message,
            "retryable": self.retryable,
        }
        if self.recovery:
            error["recovery"] = self.recovery
        if self.details:
            error["details"] = self.details
        return error


def _suggest(command: str | None) -> dict[str, Any] | None:
    return {"suggested_command": command} if command else None


def invalid_arguments(message: str, *, field: str | None = None) -> ImageSkillError:
    """INVALID_ARGUMENTS (exit 2), the most common refusal, naming the offending field."""
    details = {"field": field} if field else None
    return ImageSkillError(ErrorCode.INVALID_ARGUMENTS, message, details=details)


def flag_required(
    message: str,
    flag: str,
    *,
    field: str | None = None,
    suggested_command: str | None = None,
) -> ImageSkillError:
    """INVALID_ARGUMENTS (exit 2) naming the flag that makes the call valid (and the field)."""
    recovery: dict[str, Any] = {"required_flag": flag}
    if suggested_command:
        recovery["suggested_command"] = suggested_command
    return ImageSkillError(
        ErrorCode.INVALID_ARGUMENTS, message, recovery=recovery, details={"field": field or flag}
    )


def not_found(
    message: str, *, suggested_command: str | None = None, field: str | None = None
) -> ImageSkillError:
    """NOT_FOUND (exit 1), with the command that lists what does exist and the field named."""
    details = {"field": field} if field else None
    return ImageSkillError(
        ErrorCode.NOT_FOUND, message, recovery=_suggest(suggested_command), details=details
    )


def conflict(message: str, *, suggested_command: str | None = None) -> ImageSkillError:
    """CONFLICT (exit 1): the request clashes with the current state."""
    return ImageSkillError(ErrorCode.CONFLICT, message, recovery=_suggest(suggested_command))


def auth_required(message: str, *, suggested_command: str | None = None) -> ImageSkillError:
    """AUTH_REQUIRED (exit 3): no credentials came with the request."""
    return ImageSkillError(ErrorCode.AUTH_REQUIRED, message, recovery=_suggest(suggested_command))


def retry_later(code: ErrorCode, message: str, *, seconds: int) -> ImageSkillError:
    """A retryable ``code`` whose recovery says how many seconds to wait before retrying."""
    return ImageSkillError(code, message, retryable=True, recovery={"retry_after_seconds": seconds})


def service_unavailable(message: str, *, recovery: dict[str, Any] | None = None) -> ImageSkillError:
    """SERVICE_UNAVAILABLE (exit 7, retryable): a dependency of the service is down."""
    return ImageSkillError(ErrorCode.SERVICE_UNAVAILABLE, message, recovery=recovery)
