"""Error codes are an enum whose values are the wire strings, read back leniently."""

from __future__ import annotations

import json

from image_skill.contract.errors import (
    ERROR_SPECS,
    ErrorCode,
    ImageSkillError,
    not_found,
    spec_for,
)


def test_every_code_has_a_spec_and_its_own_name_as_value() -> None:
    for code in ErrorCode:
        assert code.value == code.name
        assert code in ERROR_SPECS
    assert set(ERROR_SPECS) == set(ErrorCode)


def test_the_envelope_carries_the_plain_wire_string() -> None:
    error = not_found("No such thing.", suggested_command="image-skill assets list --json")
    body = json.dumps(error.to_error())
    assert '"code": "NOT_FOUND"' in body
    assert type(error.to_error()["code"]) is str
    assert error.http_status == 404 and error.exit_code == 1


def test_plain_strings_from_the_wire_find_their_spec() -> None:
    assert spec_for("RATE_LIMITED") is ERROR_SPECS[ErrorCode.RATE_LIMITED]
    error = ImageSkillError.from_wire("QUOTA_EXCEEDED", "Out of quota.")
    assert error.code == ErrorCode.QUOTA_EXCEEDED and error.exit_code == 5


def test_a_code_from_a_newer_server_does_not_crash_the_client() -> None:
    error = ImageSkillError.from_wire("SOMETHING_NEW", "A future failure.")
    assert error.code == "SOMETHING_NEW"
    assert (error.http_status, error.exit_code, error.retryable) == (500, 1, False)
    assert error.to_error()["code"] == "SOMETHING_NEW"
