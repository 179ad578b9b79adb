"""A short schemathesis pass over ``/openapi.json``: no input makes the service answer 5xx.

A real ``image-skill serve`` per database (SQLite and PostgreSQL), probed with
property-based requests for every operation in the spec, positive (valid by
the schema) and negative (invalid), without a token and with an agent's token.
Checks: ``not_a_server_error`` (with the server log free of unhandled errors),
documented status codes, content types and response bodies (every answer matches
the envelope schema the spec documents for its status). Kept short (``MAX_EXAMPLES``) so a
run stays well under a minute; ``scripts/fuzz-api`` runs the long version.
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup

from tests.support.databases import blank_database
from tests.support.servers import Server, start_server, stop_server

pytestmark = pytest.mark.slow

MAX_EXAMPLES = {GenerationMode.POSITIVE: 6, GenerationMode.NEGATIVE: 4}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Limits that would only turn later probes into 429s; they have their own tests.
SERVER_ENV = {
    "IMAGE_SKILL_RATE_LIMITS_ENABLED": "false",
    "IMAGE_SKILL_DAILY_JOB_CAP_UNCLAIMED": "1000000",
    "IMAGE_SKILL_DAILY_UPLOAD_CAP_UNCLAIMED": "1000000",
}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, str]]:
    """A served app on a blank database and the token of an agent signed up on it."""
    workdir = tmp_path_factory.mktemp(f"schemathesis-{request.param}")
    env = {**SERVER_ENV, "IMAGE_SKILL_TELEMETRY": "off", "IMAGE_SKILL_ENVIRONMENT": "test"}
    with blank_database(request.param, workdir) as url:
        server = start_server(url, workdir, env)
        try:
            yield server, _sign_up(server.base_url)
        finally:
            stop_server(server)


def _sign_up(base_url: str) -> str:
    body = {"human_email": "fuzz@example.com", "agent_name": "fuzz", "return_token": True}
    request = urllib.request.Request(
        base_url + "/v1/agent-signups",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        token: str = json.load(response)["data"]["token"]
    return token


def _probe(case: Case, base_url: str, headers: dict[str, str], failures: list[str]) -> None:
    response = case.call(base_url=base_url, headers=headers, timeout=30)
    try:
        case.validate_response(response, checks=CHECKS, headers=headers)
    except (AssertionError, FailureGroup) as exc:
        failures.append(f"{case.operation.label} -> {response.status_code}: {exc}"[:2000])


@pytest.mark.parametrize("caller", ["anonymous", "agent"])
def test_no_server_errors_over_the_openapi_spec(
    live: tuple[Server, str], caller: str, tmp_path: Path
) -> None:
    server, token = live
    headers = {"Authorization": f"Bearer {token}"} if caller == "agent" else {}
    schema = schemathesis.openapi.from_url(server.base_url + "/openapi.json")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode, examples in MAX_EXAMPLES.items():

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=examples,
                deadline=None,
                database=None,
                derandomize=bool(os.environ.get("CI")),
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def probe(case: Case) -> None:
                _probe(case, server.base_url, headers, failures)

            try:
                probe()
            except Unsatisfiable:
                # No way to make an invalid request (no parameters and no body).
                assert mode is GenerationMode.NEGATIVE, operation.label
    assert operations > 20
    assert failures == [], "\n\n".join(failures[:20])
    log = server.log()
    assert "unhandled error" not in log, log[log.index("unhandled error") :][:5000]


def test_the_check_can_fail(live: tuple[Server, str]) -> None:
    """The checks really judge the answer: the same response turned into a 500 fails."""
    server, _token = live
    schema = schemathesis.openapi.from_url(server.base_url + "/openapi.json")
    case = schema["/healthz"]["GET"].Case()
    response = case.call(base_url=server.base_url)
    case.validate_response(response, checks=CHECKS)
    response.status_code = 500
    with pytest.raises(FailureGroup):
        case.validate_response(response, checks=[not_a_server_error])
