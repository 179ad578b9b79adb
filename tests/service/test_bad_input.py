"""Bad input is never a 5xx, on both databases (issue 10's probes, each once a 500).

NUL bytes in ids, query strings, headers and text fields; JSON nested hundreds
of levels deep; lone UTF-16 surrogates in keys and values; numbers out of
range; malformed ids. Each answers ``INVALID_ARGUMENTS`` (HTTP 400, exit 2)
naming the field and never echoing the value; a well-formed id that names
nothing stays ``NOT_FOUND``. Nothing bad reaches the database.
"""

from __future__ import annotations

import json
import re
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from httpx import Response
from sqlalchemy import create_engine, func, select

from image_skill.contract.envelope import EXIT_CODE_HEADER
from image_skill.contract.errors import ImageSkillError
from image_skill.contract.ids import checked_id, is_id_shaped
from image_skill.server import create_server_app
from image_skill.service.db.models import Feedback
from image_skill.service.guarded_route import GuardedRoute
from image_skill.service.json_guard import parse_json_body
from image_skill.service.settings import Settings, to_async_url, to_sync_url
from tests.support.apps import service_settings
from tests.support.databases import blank_database
from tests.support.envelopes import assert_envelope
from tests.support.routes import collection_routes, flat_routes

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


# --- one started app per database kind for the module -------------------------------------


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, str]]:
    workdir = tmp_path_factory.mktemp(f"bad-input-{request.param}")
    with (
        blank_database(request.param, workdir) as url,
        TestClient(
            create_server_app(service_settings(url, workdir / "home")),
            raise_server_exceptions=False,
        ) as client,
    ):
        yield client, url


@pytest.fixture
def api(served: tuple[TestClient, str]) -> TestClient:
    return served[0]


@pytest.fixture
def headers(api: TestClient) -> dict[str, str]:
    """The bearer header of a fresh agent."""
    unique = uuid.uuid4().hex[:8]
    body = {"human_email": f"bad-{unique}@example.com", "agent_name": f"bad-{unique}"}
    response = api.post("/v1/agent-signups", json={**body, "return_token": True})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['data']['token']}"}


def refused(response: Response, field: str, *, code: str = "INVALID_ARGUMENTS") -> dict[str, Any]:
    """The error of a 4xx envelope naming ``field``."""
    envelope: dict[str, Any] = response.json()
    assert_envelope(envelope, ok=False)
    error: dict[str, Any] = envelope["error"]
    assert error["code"] == code, error
    assert response.status_code == 400, (response.status_code, error)
    assert response.headers[EXIT_CODE_HEADER] == "2"
    assert error["retryable"] is False
    assert (error.get("details") or {}).get("field") == field, error
    assert "\\u0000" not in response.text and "\x00" not in response.text
    return error


def raw_post(api: TestClient, path: str, text: str, headers: dict[str, str]) -> Response:
    """POST ``text`` as it is (JSON escapes such as ``\\ud800`` stay escapes)."""
    return api.post(path, content=text, headers={**headers, "content-type": "application/json"})


def nested(depth: int) -> str:
    """JSON text of an object ``depth`` levels deep (built as text: encoders recurse)."""
    return '{"a": ' * (depth - 1) + '{"leaf": 1}' + "}" * (depth - 1)


# --- ids and path parameters ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/jobs/job_%00x", "job_id"),
        ("/v1/assets/image_%00x", "asset_id"),
        ("/v1/activity/job_%00x", "reference"),
        ("/v1/claims/claim_%00x", "claim_id"),
        ("/v1/jobs/job_%01x", "job_id"),
        ("/v1/jobs/job_%ffx", "job_id"),  # not UTF-8
        ("/v1/models/local.sketch%00", "model_id"),
    ],
)
def test_nul_and_invalid_text_in_path_parameters(
    api: TestClient, headers: dict[str, str], path: str, field: str
) -> None:
    refused(api.get(path, headers=headers), field)


def test_nul_in_every_path_parameter_of_every_route(
    api: TestClient, headers: dict[str, str]
) -> None:
    """A sweep, so a route added later (cancel, wait, webhooks...) cannot skip the id checks."""
    swept = 0
    for route in collection_routes():
        for name in re.findall(r"\{([^}:]+)", route.path):
            marked = re.sub(r"\{" + name + r"(:[^}]*)?\}", "ab%00c", route.path)
            concrete = re.sub(r"\{[^}]+\}", "job_ok", marked)
            for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
                response = api.request(method, concrete, headers=headers, json={})
                assert response.status_code < 500, (method, concrete, response.text)
                if route.path.startswith("/v1/"):
                    refused(response, name)
                swept += 1
    assert swept >= 10


def test_malformed_ids_are_refused_before_the_database(
    api: TestClient, headers: dict[str, str]
) -> None:
    for bad in ("job_a%20b", "job_%27%3B--", "j" * 65, "-job", "job_%E2%9C%93"):
        refused(api.get(f"/v1/jobs/{bad}", headers=headers), "job_id")
    refused(api.get(f"/v1/assets/image_{'x' * 160}", headers=headers), "asset_id")
    for name in ("cursor",):
        refused(api.get("/v1/jobs", params={name: "job x"}, headers=headers), name)
    for name in ("quote_id", "payment_attempt_id", "receipt_id"):
        refused(api.get("/v1/credit-purchases/status", params={name: "a'b"}, headers=headers), name)
    # Well-formed ids that name nothing are NOT_FOUND, as before.
    for unknown in ("/v1/jobs/job_doesnotexist", "/v1/assets/image_none", "/v1/jobs/not-an-id"):
        missing = api.get(unknown, headers=headers)
        assert missing.status_code == 404, missing.text
        assert missing.json()["error"]["code"] == "NOT_FOUND"


# --- query strings and headers --------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("cursor=job_%00", "cursor"),
        ("cursor=job_%0a", "cursor"),
        ("status=%ff", "status"),  # not UTF-8
        ("cursor=job_%zz", "cursor"),  # not percent-encoding
        ("cursor=50%", "cursor"),
        ("li%00mit=1", "query"),  # a bad name is not echoed
    ],
)
def test_bad_query_strings(
    api: TestClient, headers: dict[str, str], query: str, field: str
) -> None:
    refused(api.get(f"/v1/jobs?{query}", headers=headers), field)


def test_bad_query_strings_on_every_query_route(api: TestClient, headers: dict[str, str]) -> None:
    refused(api.get("/v1/activity?subject=job_%00", headers=headers), "subject")
    refused(api.get("/v1/credit-purchases/status?quote_id=quote_%00", headers=headers), "quote_id")
    refused(api.get("/v1/claims?x=%00"), "x")  # before authentication, too


def test_bad_header_values(api: TestClient, headers: dict[str, str]) -> None:
    body = {"prompt": "a lighthouse", "dry_run": True}
    for value in (b"key\x00", b"key\x01", b"k\xe9y"):
        sent = {**headers, "Idempotency-Key": value}  # type: ignore[dict-item]
        refused(api.post("/v1/create", json=body, headers=sent), "Idempotency-Key")
    refused(api.get("/v1/whoami", headers={"Authorization": b"Bearer \x00"}), "Authorization")  # type: ignore[dict-item]
    refused(api.get("/v1/whoami", headers={"Authorization": b"Bearer \xff"}), "Authorization")  # type: ignore[dict-item]
    refused(api.get("/healthz", headers={"X-Anything": b"a\x7fb"}), "X-Anything")  # type: ignore[dict-item]
    # A tab is a legal header character.
    assert api.get("/healthz", headers={"X-Anything": "a\tb"}).status_code == 200


# --- JSON bodies ----------------------------------------------------------------------------


def test_nul_in_feedback_text_is_refused_and_nothing_is_stored(
    served: tuple[TestClient, str], headers: dict[str, str]
) -> None:
    api, url = served
    engine = create_engine(to_sync_url(to_async_url(url)))
    try:
        with engine.connect() as conn:
            before = conn.execute(select(func.count()).select_from(Feedback)).scalar_one()
        base = {"type": "bug", "severity": "low", "confidence": "low", "next_state": "new"}
        cases = [
            ({"title": "broken\u0000title"}, "title"),
            ({"title": "t", "body": "b\u0000"}, "body"),
            ({"title": "t", "evidence": ["ok", "bad\u0000"]}, "evidence.1"),
            ({"title": "t", "dedupe_key": "\u0000"}, "dedupe_key"),
        ]
        for extra, field in cases:
            error = refused(
                api.post("/v1/feedback", json={**base, **extra}, headers=headers), field
            )
            assert error["code"] != "FEEDBACK_STORAGE_UNAVAILABLE"
        with engine.connect() as conn:
            after = conn.execute(select(func.count()).select_from(Feedback)).scalar_one()
        assert after == before
    finally:
        engine.dispose()
    # Clean text is still stored.
    stored = api.post("/v1/feedback", json={**base, "title": "fine"}, headers=headers)
    assert stored.status_code == 201, stored.text


@pytest.mark.parametrize("depth", [33, 300, 950])
def test_deeply_nested_model_parameters(
    api: TestClient, headers: dict[str, str], depth: int
) -> None:
    text = (
        '{"prompt": "a lighthouse", "dry_run": true, "input_asset_id": "image_x", '
        f'"model_parameters": {nested(depth)}}}'
    )
    for route in ("/v1/create", "/v1/edit"):
        error = refused(raw_post(api, route, text, headers), "body")
        assert "nested" in error["message"]


def test_json_deeper_than_the_parser_can_go(api: TestClient, headers: dict[str, str]) -> None:
    # Within the body size limit, far deeper than json.loads can recurse.
    for text in ("[" * 100_000, nested(20_000)):
        refused(raw_post(api, "/v1/create", text, headers), "body")
        refused(raw_post(api, "/v1/agent-signups", text, {}), "body")


def test_at_the_depth_limit_the_request_runs(api: TestClient, headers: dict[str, str]) -> None:
    # The body is level 1 and model_parameters level 2: 31 more levels fit in 32.
    text = f'{{"prompt": "a lighthouse", "dry_run": true, "model_parameters": {nested(31)}}}'
    answer = raw_post(api, "/v1/create", text, headers)
    assert answer.status_code < 500, answer.text
    error = answer.json()["error"] or {}
    assert (error.get("details") or {}).get("field") != "body", error


def test_lone_surrogates(api: TestClient, headers: dict[str, str]) -> None:
    cases = [
        (
            '{"prompt": "x", "dry_run": true, "model_parameters": {"\\ud800": 1}}',
            "model_parameters",
        ),
        (
            '{"prompt": "x", "dry_run": true, "model_parameters": {"a": {"\\udfff": 1}}}',
            "model_parameters.a",
        ),
        ('{"prompt": "x\\ud800", "dry_run": true}', "prompt"),
        (
            '{"prompt": "x", "dry_run": true, "model_parameters": {"a": ["ok", "\\udc00"]}}',
            "model_parameters.a.1",
        ),
        ('{"\\ud800": 1, "prompt": "x"}', "body"),
    ]
    for text, field in cases:
        refused(raw_post(api, "/v1/create", text, headers), field)
    # A proper surrogate pair is one character, and fine.
    pair = '{"prompt": "a lighthouse \\ud83d\\ude00", "dry_run": true}'
    assert raw_post(api, "/v1/create", pair, headers).status_code == 200
    # Raw bytes of an encoded surrogate, and bytes that are not UTF-8 at all.
    for raw in (b'{"prompt": "\xed\xa0\x80"}', b'{"prompt": "\xff"}'):
        response = api.post(
            "/v1/create", content=raw, headers={**headers, "content-type": "application/json"}
        )
        refused(response, "prompt" if raw.startswith(b'{"prompt": "\xed') else "body")


def test_numbers_out_of_range(api: TestClient, headers: dict[str, str]) -> None:
    cases = [
        (
            '{"prompt": "x", "dry_run": true, "model_parameters": {"n": 1e400}}',
            "model_parameters.n",
        ),
        (
            '{"prompt": "x", "dry_run": true, "model_parameters": {"n": 99999999999999999999}}',
            "model_parameters.n",
        ),
        ('{"prompt": "x", "dry_run": true, "max_usd": NaN}', "body"),
        ('{"prompt": "x", "dry_run": true, "max_usd": -Infinity}', "body"),
        ('{"prompt": "x", "dry_run": true, "model_parameters": {"n": ' + "9" * 5000 + "}}", "body"),
    ]
    for text, field in cases:
        refused(raw_post(api, "/v1/create", text, headers), field)


def test_cli_bridge_argv_with_nul(api: TestClient, headers: dict[str, str]) -> None:
    refused(
        api.post("/v1/cli", json={"argv": ["jobs", "show", "job_\u0000"]}, headers=headers),
        "argv.2",
    )


def test_malformed_json_is_still_invalid_arguments(api: TestClient) -> None:
    refused(raw_post(api, "/v1/agent-signups", '{"human_email": ', {}), "body")


# --- without a database ---------------------------------------------------------------------


def _app() -> Any:
    settings = Settings(
        database_url="sqlite:///unused.db",
        home=Path("/nonexistent/image-skill-bad-input"),
        environment="test",
        embedded=False,
    )
    return create_server_app(settings)


def test_every_api_route_is_guarded() -> None:
    """A router made without ``route_class=GuardedRoute`` would skip the body checks."""
    routes = [getattr(route, "original_route", route) for route in flat_routes(_app())]
    api_routes = [route for route in routes if isinstance(route, APIRoute)]
    assert len(api_routes) > 20
    unguarded = [route.path for route in api_routes if not isinstance(route, GuardedRoute)]
    assert unguarded == []


def test_openapi_tells_the_real_statuses_and_id_shapes() -> None:
    spec = _app().openapi()
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            # Validation errors are 400 here, never FastAPI's default 422.
            assert "HTTPValidationError" not in json.dumps(responses), (method, path)
            assert {"400", "413", "429", "4XX", "5XX"} <= set(responses), (method, path)
    job = spec["paths"]["/v1/jobs/{job_id}"]["get"]
    assert "404" in job["responses"] and "401" in job["responses"]
    (job_id,) = job["parameters"]
    assert job_id["schema"]["pattern"] and job_id["schema"]["maxLength"] == 64


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"a": {"b": {"c": "x\\u0000"}}}', "a.b.c"),
        ('{"a": [[1, {"\\u0000": 2}]]}', "a.0.1"),
        ('"\\u0000"', "body"),
        ("[" * 40 + "]" * 40, "body"),
    ],
)
def test_parse_json_body_names_the_path(text: str, field: str) -> None:
    with pytest.raises(ImageSkillError) as caught:
        parse_json_body(text.encode(), max_depth=32)
    assert caught.value.code == "INVALID_ARGUMENTS"
    assert caught.value.details == {"field": field}


def test_parse_json_body_keeps_good_bodies() -> None:
    good = {"a": [1, 2.5, None, True, "é \U0001f600"], "b": {"c": -(2**63)}}
    assert parse_json_body(json.dumps(good).encode(), max_depth=3) == good
    with pytest.raises(json.JSONDecodeError):
        parse_json_body(b"{", max_depth=3)


def test_id_shape() -> None:
    assert is_id_shaped("job_01jz") and is_id_shaped("cs_test_a1B2.c-3")
    for bad in ("", "job x", "job_\x00", "_job", "j" * 65, "ü"):
        assert not is_id_shaped(bad)
        with pytest.raises(ImageSkillError) as caught:
            checked_id(bad, field="job_id")
        assert caught.value.details == {"field": "job_id"}
    assert is_id_shaped("j" * 200, max_length=255)
