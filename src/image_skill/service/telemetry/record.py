"""What one API call reports: a mutable record filled while the request runs.

The middleware opens a record per request and makes it current (a context
variable, so route and pipeline code can add details without being handed
anything); at the end the record becomes one event. Everything in it is
either bounded by construction (route templates, validated header values,
error codes) or an id the service minted itself: never a prompt, bytes, a
token, a filename or a URL.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from image_skill import __version__
from image_skill.contract.commands import ALL_NAMES
from image_skill.contract.envelope import API_VERSION
from image_skill.contract.ids import iso, utc_now

if TYPE_CHECKING:
    from image_skill.service.telemetry.core import Telemetry

CLI_VERSION_HEADER = b"x-image-skill-cli-version"
CLI_COMMAND_HEADER = b"x-image-skill-command"
IDEMPOTENCY_HEADER = b"idempotency-key"
SCOPE_KEY = "image_skill.telemetry"

_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+_-]{0,31}")
_COMMAND_SHAPE = re.compile(r"image-skill(?: [a-z][a-z0-9-]{0,23}){0,3}")
_ERROR_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
TRACE_ID = re.compile(r"trace_[0-9a-f]{16}")
_ID = re.compile(r"[a-z]{1,12}_[A-Za-z0-9]{1,64}")
INVALID = "invalid"
OTHER = "other"

current: ContextVar[RequestRecord | None] = ContextVar("image_skill_telemetry", default=None)


@dataclass
class RequestRecord:
    """Telemetry of one API call, filled by the middleware and by ``annotate``."""

    telemetry: Telemetry
    trace_id: str
    method: str
    cli_version: str | None = None
    cli_command: str | None = None
    idempotency_key_sent: bool = False
    endpoint: str = "unmatched"
    actor_type: str | None = None
    actor_id: str | None = None
    claim_state: str | None = None
    capability_id: str | None = None
    http_status: int = 0
    error_code: str | None = None
    retryable: bool | None = None
    duration_ms: float = 0.0
    credits: int | None = None
    outputs: int | None = None
    replayed: bool = False
    dry_run: bool | None = None
    job_id: str | None = None

    def event(self) -> dict[str, Any]:
        """The one structured event of this call."""
        return {
            "event": "api.request",
            "ts": iso(utc_now()),
            "trace_id": self.trace_id,
            "endpoint": self.endpoint,
            "method": self.method,
            "api_version": API_VERSION,
            "service_version": __version__,
            "cli_version": self.cli_version,
            "cli_command": self.cli_command,
            "actor_type": self.actor_type,
            "actor_id": self.actor_id,
            "claim_state": self.claim_state,
            "capability_id": self.capability_id,
            "status": "ok" if 0 < self.http_status < 400 else "error",
            "http_status": self.http_status,
            "error_code": self.error_code,
            "retryable": self.retryable,
            "duration_ms": round(self.duration_ms, 3),
            "credits": self.credits,
            "outputs": self.outputs,
            "retry": {"idempotency_key_sent": self.idempotency_key_sent, "replayed": self.replayed},
            "dry_run": self.dry_run,
            "job_id": self.job_id,
        }


def cli_version(raw: bytes | None) -> str | None:
    """The CLI version header if it looks like a version, else ``invalid``."""
    if raw is None:
        return None
    value = raw.decode("latin-1").strip()
    return value if _VERSION.fullmatch(value) else INVALID


def cli_command(raw: bytes | None) -> str | None:
    """The CLI command header if it names a real command, ``other`` or ``invalid`` if not.

    Only the CLI's own command names pass, so the header can neither carry
    free text into the logs nor blow up metric label sets.
    """
    if raw is None:
        return None
    value = raw.decode("latin-1").strip()
    if not _COMMAND_SHAPE.fullmatch(value):
        return INVALID
    return value if value in ALL_NAMES else OTHER


def error_code(value: object) -> str | None:
    """An envelope error code, if it has the shape of one."""
    return value if isinstance(value, str) and _ERROR_CODE.fullmatch(value) else None


def service_id(value: object) -> str | None:
    """A service-minted id (``job_…``), if it has that shape."""
    return value if isinstance(value, str) and _ID.fullmatch(value) else None
