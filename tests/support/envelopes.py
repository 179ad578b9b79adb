"""The contract's envelope, checked the same way by every test that sees one."""

from __future__ import annotations

from typing import Any

from httpx import Response

from image_skill.contract.envelope import EXIT_CODE_HEADER
from image_skill.contract.errors import spec_for


def assert_envelope(envelope: dict[str, Any], *, ok: bool) -> None:
    """The contract's envelope shape."""
    assert set(envelope) == {"ok", "command", "trace_id", "actor", "data", "warnings", "error"}
    assert envelope["ok"] is ok
    assert envelope["command"].startswith("image-skill")
    assert envelope["trace_id"].startswith("trace_") and len(envelope["trace_id"]) == 22
    assert isinstance(envelope["warnings"], list)
    if ok:
        assert envelope["error"] is None
    else:
        assert envelope["data"] is None
        error = envelope["error"]
        assert {"code", "message", "retryable"} <= set(error)
        assert isinstance(error["retryable"], bool)


def ok(response: Response, status: int = 201) -> dict[str, Any]:
    """The data of a success envelope (asserting status, shape and exit header 0)."""
    assert response.status_code == status, response.text
    envelope: dict[str, Any] = response.json()
    assert_envelope(envelope, ok=True)
    assert response.headers[EXIT_CODE_HEADER] == "0"
    data: dict[str, Any] = envelope["data"]
    return data


def check_error(response: Response, code: str, exit_code: int) -> dict[str, Any]:
    """The error object of an error envelope with ``code`` and exit header ``exit_code``."""
    envelope: dict[str, Any] = response.json()
    assert_envelope(envelope, ok=False)
    assert envelope["error"]["code"] == code, envelope["error"]
    assert response.headers[EXIT_CODE_HEADER] == str(exit_code)
    assert response.status_code == spec_for(code).http_status
    error: dict[str, Any] = envelope["error"]
    return error
