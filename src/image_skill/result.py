"""What every SDK call answers: the envelope and the exit code it stands for.

Apart from the client so that the CLI's command modules, which only pass results
along, do not load the SDK and its transports.
"""

from __future__ import annotations

import json

from image_skill.contract.envelope import EXIT_CODE_HEADER, failure
from image_skill.contract.errors import ErrorCode, ImageSkillError, exit_code_for_status
from image_skill.contract.ids import new_trace_id

# Not ``typing.TYPE_CHECKING``: every CLI call imports this module (mypy reads the block).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from image_skill.transport import RawResponse


class Result:
    """One API answer: the envelope and the exit code it stands for.

    A slotted class, not a dataclass: ``dataclasses`` (with ``inspect``) would cost
    every CLI call milliseconds.
    """

    __slots__ = ("envelope", "exit_code", "status")

    def __init__(self, envelope: dict[str, Any], exit_code: int, status: int = 0) -> None:
        self.envelope = envelope
        self.exit_code = exit_code
        self.status = status

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Result):
            return NotImplemented
        mine = (self.envelope, self.exit_code, self.status)
        return mine == (other.envelope, other.exit_code, other.status)

    def __repr__(self) -> str:
        fields = f"envelope={self.envelope!r}, exit_code={self.exit_code}, status={self.status}"
        return f"Result({fields})"

    @property
    def ok(self) -> bool:
        """True on success."""
        return bool(self.envelope.get("ok"))

    @property
    def data(self) -> Any:
        """The envelope's ``data``."""
        return self.envelope.get("data")

    @property
    def error(self) -> dict[str, Any] | None:
        """The envelope's ``error`` (None on success)."""
        error = self.envelope.get("error")
        return error if isinstance(error, dict) else None

    def raise_for_error(self) -> Result:
        """Raise ``ImageSkillError`` if the call failed; return self otherwise."""
        if not self.ok:
            error = self.error or {}
            raise ImageSkillError.from_wire(
                str(error.get("code", ErrorCode.PUBLIC_CLI_FAILED)),
                str(error.get("message", "The call failed.")),
                recovery=error.get("recovery"),
            )
        return self


def result_from_response(raw: RawResponse, command: str) -> Result:
    """The ``Result`` of a raw answer; a body that is no envelope is HOSTED_API_REQUEST_FAILED."""
    header = raw.headers.get(EXIT_CODE_HEADER)
    try:
        envelope = json.loads(raw.body)
        if not isinstance(envelope, dict) or "ok" not in envelope:
            raise ValueError("not an envelope")
    except ValueError:
        error = ImageSkillError(
            ErrorCode.HOSTED_API_REQUEST_FAILED,
            f"The service answered HTTP {raw.status} without a JSON envelope.",
            recovery={"suggested_command": "image-skill doctor --json"},
            retryable=raw.status >= 500,
        )
        return Result(failure(command, error, trace_id=new_trace_id()), error.exit_code, raw.status)
    if header is not None and header.strip().isdigit():
        exit_code = int(header)
    else:
        exit_code = 0 if envelope.get("ok") else exit_code_for_status(raw.status)
    return Result(envelope, exit_code, raw.status)
