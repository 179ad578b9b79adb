"""The JSON envelope every response and every ``--json`` output uses."""

from __future__ import annotations

from image_skill.contract.errors import ImageSkillError

TYPE_CHECKING = False  # not typing's: the CLI imports this module on every call
if TYPE_CHECKING:
    from typing import Any

EXIT_CODE_HEADER = "x-image-skill-exit-code"
TRACE_HEADER = "x-image-skill-trace-id"
API_VERSION = "v1"


def success(
    command: str,
    data: Any,
    *,
    trace_id: str,
    actor: dict[str, Any] | None = None,
    warnings: list[Any] | None = None,
) -> dict[str, Any]:
    """A success envelope."""
    return _envelope(command, trace_id, actor, warnings, data=data)


def failure(
    command: str,
    error: ImageSkillError,
    *,
    trace_id: str,
    actor: dict[str, Any] | None = None,
    warnings: list[Any] | None = None,
) -> dict[str, Any]:
    """An error envelope: ``ok`` false, ``data`` null, ``error`` filled."""
    return _envelope(command, trace_id, actor, warnings, error=error.to_error())


def _envelope(
    command: str,
    trace_id: str,
    actor: dict[str, Any] | None,
    warnings: list[Any] | None,
    *,
    data: Any = None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "ok": error is None,
        "command": command,
        "trace_id": trace_id,
        "actor": actor,
        "data": data,
        "warnings": list(warnings or []),
        "error": error,
    }


def exit_code_of(envelope: dict[str, Any]) -> int:
    """Exit code an envelope stands for (0 on success)."""
    if envelope.get("ok"):
        return 0
    from image_skill.contract.errors import spec_for

    error = envelope.get("error") or {}
    return spec_for(str(error.get("code", ""))).exit_code
