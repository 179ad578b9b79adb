"""The wire contract's tables and formats: error codes, ids, timestamps, tokens."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from image_skill.contract import tokens
from image_skill.contract.envelope import exit_code_of, failure, success
from image_skill.contract.errors import (
    ERROR_SPECS,
    ImageSkillError,
    exit_code_for_status,
    invalid_arguments,
    spec_for,
)
from image_skill.contract.ids import iso, new_id, new_trace_id

# CONTRACT.md "Exit codes and error codes", copied row by row: exit -> (HTTP statuses, codes).
CONTRACT_TABLE: dict[int, tuple[set[int], list[str]]] = {
    1: ({404, 409, 500}, ["NOT_FOUND", "PUBLIC_CLI_FAILED", "FEEDBACK_STORAGE_UNAVAILABLE"]),
    2: (
        {400},
        [
            "INVALID_ARGUMENTS",
            "PUBLIC_CLI_COMMAND_NOT_AVAILABLE",
            "MODEL_NOT_FOUND",
            "MODEL_PARAMETERS_INVALID",
            "IDEMPOTENCY_KEY_REUSED",
            "UPLOAD_MIME_TYPE_UNKNOWN",
        ],
    ),
    3: ({401}, ["AUTH_REQUIRED", "AUTH_INVALID", "TOKEN_REVOKED"]),
    4: (
        {403},
        [
            "CAPABILITY_DENIED",
            "CLAIM_REQUIRED",
            "BUDGET_REQUIRES_CONFIRMATION",
            "BUDGET_CAP_EXCEEDED",
            "MODEL_NOT_CONFIGURED",
        ],
    ),
    5: (
        {402, 429},
        ["QUOTA_EXCEEDED", "INSUFFICIENT_CREDITS", "DAILY_JOB_CAP_REACHED", "RATE_LIMITED"],
    ),
    6: ({422}, ["CONTENT_POLICY_DENIED", "INPUT_POLICY_DENIED"]),
    7: (
        {502, 503},
        [
            "PROVIDER_FAILED",
            "PROVIDER_UNAVAILABLE",
            "HOSTED_API_REQUEST_FAILED",
            "ASSET_DOWNLOAD_FAILED",
        ],
    ),
    8: ({504}, ["TIMEOUT", "PROVIDER_TIMEOUT"]),
    9: ({507}, ["ARTIFACT_STORAGE_WRITE_FAILED", "OUTPUT_EXISTS", "UPLOAD_ASSET_ID_MISSING"]),
}
CONTRACT_CODES = [
    (code, exit_code) for exit_code, (_, codes) in CONTRACT_TABLE.items() for code in codes
]
EXIT_OF_STATUS = {
    status: exit_code for exit_code, (statuses, _) in CONTRACT_TABLE.items() for status in statuses
}


@pytest.mark.parametrize(("code", "exit_code"), CONTRACT_CODES, ids=[c for c, _ in CONTRACT_CODES])
def test_contract_codes_exist_with_exit_code_and_status(code: str, exit_code: int) -> None:
    assert code in ERROR_SPECS, f"{code} is missing from ERROR_SPECS"
    spec = spec_for(code)
    assert spec.exit_code == exit_code
    assert spec.http_status in CONTRACT_TABLE[exit_code][0]
    error = ImageSkillError(code, "message")
    assert (error.exit_code, error.http_status) == (spec.exit_code, spec.http_status)


def test_specific_statuses_and_retry_hints() -> None:
    assert spec_for("DAILY_JOB_CAP_REACHED").http_status == 429
    assert spec_for("RATE_LIMITED").http_status == 429
    assert spec_for("RATE_LIMITED").retryable is True
    assert spec_for("QUOTA_EXCEEDED").http_status == 402
    assert spec_for("INSUFFICIENT_CREDITS").http_status == 402
    assert spec_for("NOT_FOUND").http_status == 404
    assert spec_for("ARTIFACT_STORAGE_WRITE_FAILED").retryable is False


def test_every_registered_code_is_consistent_with_the_table() -> None:
    # Codes beyond the contract's list (CONFLICT, INTERNAL_ERROR …) still obey its
    # status/exit pairing, so a client mapping either one gets the same answer.
    for code, spec in ERROR_SPECS.items():
        assert re.fullmatch(r"[A-Z][A-Z0-9_]+", code), code
        assert spec.exit_code in CONTRACT_TABLE, code
        if spec.http_status in EXIT_OF_STATUS and spec.http_status != 405:
            assert spec.http_status in CONTRACT_TABLE[spec.exit_code][0], (
                f"{code}: HTTP {spec.http_status} is not a status of exit {spec.exit_code}"
            )


def test_unknown_codes_are_generic_failures() -> None:
    spec = spec_for("SOMETHING_NEW")
    assert (spec.http_status, spec.exit_code) == (500, 1)


@pytest.mark.parametrize(
    ("status", "exit_code"),
    [
        (200, 0),
        (201, 0),
        (204, 0),
        (400, 1),
        (404, 1),
        (405, 1),
        (409, 1),
        (422, 1),
        (401, 3),
        (403, 3),
        (402, 5),
        (429, 5),
        (500, 7),
        (502, 7),
        (503, 7),
        (504, 7),
        (507, 7),
    ],
)
def test_exit_code_for_status_without_header(status: int, exit_code: int) -> None:
    assert exit_code_for_status(status) == exit_code


def test_error_object_and_envelopes() -> None:
    error = ImageSkillError(
        "BUDGET_REQUIRES_CONFIRMATION",
        "confirm",
        recovery={"required_flag": "--accept-unknown-cost"},
    )
    assert error.to_error() == {
        "code": "BUDGET_REQUIRES_CONFIRMATION",
        "message": "confirm",
        "retryable": False,
        "recovery": {"required_flag": "--accept-unknown-cost"},
    }
    bad = invalid_arguments("prompt is required", field="prompt")
    assert bad.to_error()["details"] == {"field": "prompt"}
    assert "details" not in invalid_arguments("no field").to_error()
    trace = new_trace_id()
    envelope = failure("image-skill create", error, trace_id=trace)
    assert envelope["ok"] is False and envelope["data"] is None
    assert exit_code_of(envelope) == 4
    assert exit_code_of(success("image-skill whoami", {}, trace_id=trace)) == 0


# --- ids ---------------------------------------------------------------------------------


def test_ids_have_prefix_and_shape() -> None:
    for prefix in ("agt", "org", "hum", "job", "image", "evt", "usage", "credit_event"):
        value = new_id(prefix)
        assert re.fullmatch(rf"{prefix}_[0-9a-hjkmnp-tv-z]{{26}}", value), value
    assert re.fullmatch(
        r"^(asset|image|video|audio|mask|thumb|file)_[A-Za-z0-9._-]{1,128}$", new_id("image")
    )


def test_trace_ids() -> None:
    traces = {new_trace_id() for _ in range(1000)}
    assert len(traces) == 1000
    assert all(re.fullmatch(r"trace_[0-9a-f]{16}", trace) for trace in traces)


def test_ids_are_unique() -> None:
    ids = [new_id("job") for _ in range(10_000)]
    assert len(set(ids)) == len(ids)


def test_ids_sort_by_creation_time() -> None:
    earlier = [new_id("evt") for _ in range(50)]
    time.sleep(0.002)
    later = [new_id("evt") for _ in range(50)]
    assert max(earlier) < min(later)
    # The time part is the first 10 characters and only ever grows.
    stamps = [value[4:14] for value in earlier + later]
    assert stamps == sorted(stamps)


# --- timestamps --------------------------------------------------------------------------

_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def test_iso_format() -> None:
    moment = datetime(2026, 3, 4, 5, 6, 7, 891_999, tzinfo=UTC)
    assert iso(moment) == "2026-03-04T05:06:07.891Z"
    assert _ISO.fullmatch(iso(datetime.now(UTC)) or "")
    assert iso(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01T00:00:00.000Z"


def test_iso_converts_to_utc_and_treats_naive_as_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    assert iso(datetime(2026, 1, 1, 1, 30, tzinfo=plus_two)) == "2025-12-31T23:30:00.000Z"
    assert iso(datetime(2026, 1, 1, 1, 30)) == "2026-01-01T01:30:00.000Z"
    assert iso(None) is None


# --- tokens ------------------------------------------------------------------------------


def test_generated_tokens_are_well_formed_and_distinct() -> None:
    generated = [tokens.generate_token() for _ in range(200)]
    assert len(set(generated)) == 200
    for raw in generated:
        assert raw.startswith("isk_r_")
        assert len(raw) == len("isk_r_") + 32 + 6
        assert tokens.is_well_formed(raw)


def test_every_single_character_change_fails_the_checksum() -> None:
    raw = tokens.generate_token()
    alphabet = "abcdefghijklmnopqrstuvwxyz234567"
    for position in range(len("isk_r_"), len(raw)):
        for replacement in alphabet:
            if replacement == raw[position]:
                continue
            mutated = raw[:position] + replacement + raw[position + 1 :]
            assert not tokens.is_well_formed(mutated), (position, replacement)


@pytest.mark.parametrize(
    "value",
    ["", "isk_r_", "isk_r_short", "ISK_R_" + "a" * 38, "isk_x_" + "a" * 38, "isk_r_" + "a" * 39],
)
def test_malformed_tokens(value: str) -> None:
    assert not tokens.is_well_formed(value)


def test_truncation_and_case_fail() -> None:
    raw = tokens.generate_token()
    assert not tokens.is_well_formed(raw[:-1])
    assert not tokens.is_well_formed(raw + "a")
    assert not tokens.is_well_formed(raw.upper())
    assert not tokens.is_well_formed(" " + raw)


def test_hash_is_hmac_keyed_by_the_pepper() -> None:
    raw = tokens.generate_token()
    one = tokens.hash_token(raw, "pepper-one")
    assert one == hmac.new(b"pepper-one", raw.encode(), hashlib.sha256).hexdigest()
    assert one != tokens.hash_token(raw, "pepper-two")
    assert one != hashlib.sha256(raw.encode()).hexdigest()
    assert tokens.hash_token(raw, "pepper-one") == one  # deterministic for lookup
    assert raw not in one


def test_display_prefix_and_redaction_hide_the_secret() -> None:
    raw = tokens.generate_token()
    assert tokens.display_prefix(raw) == raw[:10] + "…"
    redacted = tokens.redact(raw)
    assert redacted is not None and raw not in redacted
    assert tokens.redact(None) is None
