"""Every route, every way of getting it wrong: always the envelope, the right code and headers.

The routes are read from the app itself, so a route added later is swept too.
"""

from __future__ import annotations

import json
import logging
import re
import warnings
from collections.abc import Iterator
from typing import Any, Literal

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from image_skill.contract.envelope import EXIT_CODE_HEADER, TRACE_HEADER
from image_skill.contract.errors import ERROR_SPECS, spec_for
from image_skill.contract.tokens import generate_token
from image_skill.server import create_server_app
from tests.support.apps import service_settings
from tests.support.envelopes import assert_envelope
from tests.support.routes import RouteInfo, collection_routes, route_table

_PROBE_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

ROUTES = collection_routes()
ROUTE_IDS = [str(route) for route in ROUTES]
AUTH_ROUTES = [route for route in ROUTES if route.requires_auth]
BODY_ROUTES = [route for route in ROUTES if route.body_model is not None]


def check_error(response: Response, code: str, exit_code: int) -> dict[str, Any]:
    """The response is the error envelope of ``code`` with the contract's status and headers."""
    assert code in ERROR_SPECS, f"{code} is not a registered error code"
    spec = spec_for(code)
    assert spec.exit_code == exit_code, f"{code} must exit {exit_code} per CONTRACT.md"
    assert response.status_code == spec.http_status, response.text
    assert response.headers["content-type"].startswith("application/json")
    envelope: dict[str, Any] = response.json()
    assert_envelope(envelope, ok=False)
    assert envelope["error"]["code"] == code, envelope
    assert response.headers[EXIT_CODE_HEADER] == str(exit_code)
    assert response.headers[TRACE_HEADER] == envelope["trace_id"]
    assert "Traceback" not in response.text
    return envelope


def _allowed_methods(concrete_path: str) -> set[str]:
    """Methods of every route whose template matches ``concrete_path``."""
    allowed: set[str] = set()
    for route in ROUTES:
        if route.matches(concrete_path):
            allowed |= route.methods
    return allowed


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One started app on SQLite for the sweeps whose answer cannot depend on the database.

    (Authentication and unexpected failures run on both databases through ``api``.)
    """
    home = tmp_path_factory.mktemp("sweep")
    app = create_server_app(service_settings(f"sqlite:///{home / 'sweep.db'}", home))
    with TestClient(app) as client:
        yield client


@pytest.fixture(scope="module")
def auth_headers(sweep: TestClient) -> dict[str, str]:
    """A valid agent token, so auth-required routes get as far as their body."""
    response = sweep.post(
        "/v1/agent-signups",
        json={"human_email": "sweep@example.com", "agent_name": "sweeper", "return_token": True},
    )
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['data']['token']}"}


# --- the route table itself -------------------------------------------------------------


def test_route_table_is_read_from_the_app(api_app: FastAPI) -> None:
    paths = {route.path for route in route_table(api_app)}
    assert {"/healthz", "/v1/agent-signups", "/v1/whoami", "/v1/quota", "/openapi.json"} <= paths
    assert [str(r) for r in route_table(api_app)] == ROUTE_IDS
    by_path = {route.path: route for route in ROUTES}
    # The auth detection must see the dependency, or the auth sweep would sweep nothing.
    assert by_path["/v1/whoami"].requires_auth
    assert by_path["/v1/quota"].requires_auth
    for public in (
        "/healthz",
        "/v1/agent-signups",
        "/v1/credit-packs",
        "/v1/models",
        "/v1/capabilities",
        "/openapi.json",
    ):
        if public in by_path:
            assert not by_path[public].requires_auth, f"{public} must not need a token"
    assert by_path["/v1/agent-signups"].body_model is not None


def test_openapi_is_served_and_lists_every_api_route(sweep: TestClient) -> None:
    response = sweep.get("/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    assert spec["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, item in spec["paths"].items() for method in item}
    for route in ROUTES:
        if route.path in ("/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"):
            continue
        if route.path == "/a/{filename}":  # media URLs are deliberately not API operations
            assert "/a/{filename}" not in spec["paths"]
            continue
        if route.path.startswith("/console"):  # the web console: pages, not API operations
            assert route.path not in spec["paths"]
            continue
        for method in route.methods - {"HEAD"}:
            path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)  # drop convertors
            assert (path, method) in documented, f"{method} {route.path} not in OpenAPI"


def test_openapi_operation_ids_are_unique(sweep: TestClient) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        spec = sweep.get("/openapi.json").json()
    ids = [op.get("operationId") for item in spec["paths"].values() for op in item.values()]
    duplicates = sorted({op for op in ids if ids.count(op) > 1})
    assert duplicates == [], duplicates
    assert not [str(w.message) for w in caught if "Operation ID" in str(w.message)]


@pytest.mark.parametrize("route", [r for r in ROUTES if r.name.startswith("image-skill")], ids=str)
def test_route_names_are_cli_commands(route: RouteInfo) -> None:
    # The route name becomes the envelope's "command"; it must be a real CLI command.
    assert re.fullmatch(r"image-skill [a-z][a-z -]*[a-z]", route.name), route.name


# --- unknown routes and wrong methods ---------------------------------------------------


# ("/" is the home page; an unknown path at the root stands in for it.)
UNKNOWN_PATHS = (
    "/v1/does-not-exist",
    "/v2/whoami",
    "/nothing-here",
    "/v1/whoami/extra",
    "/v1/%2e%2e/healthz",
)


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
def test_unknown_route_is_not_found(sweep: TestClient, method: str) -> None:
    for path in UNKNOWN_PATHS:
        envelope = check_error(sweep.request(method, path), "NOT_FOUND", 1)
        assert envelope["command"] == "image-skill api"
        assert envelope["actor"] is None


def test_unknown_route_is_not_found_on_both_databases(api: TestClient) -> None:
    check_error(api.get("/v1/does-not-exist"), "NOT_FOUND", 1)


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
def test_wrong_method_is_method_not_allowed(sweep: TestClient, route: RouteInfo) -> None:
    allowed = _allowed_methods(route.concrete_path)
    wrong = [method for method in _PROBE_METHODS if method not in allowed]
    assert wrong, f"{route} accepts every method"
    for method in wrong:
        response = sweep.request(method, route.concrete_path)
        envelope = check_error(response, "METHOD_NOT_ALLOWED", 2)
        assert method in envelope["error"]["message"]
        # RFC 9110: a 405 names the methods that are allowed.
        advertised = {m.strip() for m in response.headers.get("allow", "").split(",")}
        assert route.methods <= advertised, response.headers


# --- authentication ----------------------------------------------------------------------


@pytest.mark.parametrize("route", AUTH_ROUTES, ids=[str(r) for r in AUTH_ROUTES])
def test_auth_routes_without_token_are_auth_required(sweep: TestClient, route: RouteInfo) -> None:
    for method in sorted(route.methods - {"HEAD"}):
        envelope = check_error(sweep.request(method, route.concrete_path), "AUTH_REQUIRED", 3)
        assert envelope["actor"] is None
        assert "signup" in envelope["error"]["recovery"]["suggested_command"]


def _bad_authorizations() -> list[str]:
    unknown = generate_token()  # well-formed and checksummed, but never issued
    flipped = unknown[:-1] + ("a" if unknown[-1] != "a" else "b")
    return [
        "Bearer garbage",
        "Bearer isk_r_short",
        f"Bearer {unknown}",
        f"Bearer {flipped}",
        f"Bearer {unknown.upper()}",
        "Basic dXNlcjpwYXNz",
        "Bearer ",
        "isk_r_no_scheme",
    ]


@pytest.mark.parametrize("route", AUTH_ROUTES, ids=[str(r) for r in AUTH_ROUTES])
def test_auth_routes_with_bad_token_are_auth_invalid(sweep: TestClient, route: RouteInfo) -> None:
    for authorization in _bad_authorizations():
        for method in sorted(route.methods - {"HEAD"}):
            response = sweep.request(
                method, route.concrete_path, headers={"Authorization": authorization}
            )
            envelope = check_error(response, "AUTH_INVALID", 3)
            secret = authorization.partition(" ")[2]
            if len(secret) > 4:
                assert secret not in response.text, "the presented token must not be echoed"
            assert envelope["actor"] is None


def test_auth_errors_on_both_databases(api: TestClient) -> None:
    unknown = {"Authorization": f"Bearer {generate_token()}"}
    for route in AUTH_ROUTES:
        for method in sorted(route.methods - {"HEAD"}):
            check_error(api.request(method, route.concrete_path), "AUTH_REQUIRED", 3)
            response = api.request(method, route.concrete_path, headers=unknown)
            check_error(response, "AUTH_INVALID", 3)


# --- request bodies ----------------------------------------------------------------------

_FILLERS: tuple[Any, ...] = ("user@example.com", "x", True, 1, 1.5, [], {})
_WRONG: tuple[Any, ...] = ({"wrong": "type"}, ["wrong"], 12345, "not-a-valid-value", True)


def _field_errors(adapter: TypeAdapter[Any], body: dict[str, Any], field: str) -> list[Any]:
    try:
        adapter.validate_json(json.dumps(body))
    except ValidationError as exc:
        return [error for error in exc.errors() if error["loc"][:1] == (field,)]
    return []


def _wire_names(model: type[BaseModel]) -> dict[str, bool]:
    """JSON field names of ``model`` -> required?"""
    return {(info.alias or name): info.is_required() for name, info in model.model_fields.items()}


def _schema_candidates(schema: dict[str, Any]) -> list[Any]:
    """Values a JSON schema names outright: enum members, consts, examples, defaults."""
    found: list[Any] = []
    for key in ("enum", "examples"):
        found.extend(schema.get(key) or [])
    for key in ("const", "default"):
        if key in schema:
            found.append(schema[key])
    for member in schema.get("anyOf", []) + schema.get("oneOf", []):
        found.extend(_schema_candidates(member))
    if "minimum" in schema:
        found.append(schema["minimum"])
    if "minLength" in schema:
        found.append("a" * int(schema["minLength"]))
    return found


def minimal_valid_body(model: type[BaseModel]) -> dict[str, Any]:
    """The smallest body that passes the model's own validation (domain checks may refuse)."""
    adapter: TypeAdapter[Any] = TypeAdapter(model)
    properties = model.model_json_schema().get("properties", {})
    body: dict[str, Any] = {}
    for field, required in _wire_names(model).items():
        if not required:
            continue
        candidates = [*_schema_candidates(properties.get(field, {})), *_FILLERS]
        for candidate in candidates:
            body[field] = candidate
            if not _field_errors(adapter, body, field):
                break
        else:
            pytest.fail(f"cannot build a valid value for {model.__name__}.{field}")
    adapter.validate_json(json.dumps(body))
    return body


def wrong_value(model: type[BaseModel], body: dict[str, Any], field: str) -> Any:
    """A JSON value of the wrong type for ``field`` (None when the field takes anything)."""
    adapter: TypeAdapter[Any] = TypeAdapter(model)
    for candidate in _WRONG:
        if _field_errors(adapter, {**body, field: candidate}, field):
            return candidate
    return None


def _post(api: TestClient, route: RouteInfo, auth: dict[str, str], **kwargs: Any) -> Response:
    method = "POST" if "POST" in route.methods else sorted(route.methods)[0]
    send_headers = {**(auth if route.requires_auth else {}), **kwargs.pop("headers", {})}
    return api.request(method, route.concrete_path, headers=send_headers, **kwargs)


def _assert_names_field(envelope: dict[str, Any], field: str) -> None:
    error = envelope["error"]
    assert error["details"]["field"].split(".")[0] == field, error
    assert field in error["message"], error


@pytest.mark.parametrize("route", BODY_ROUTES, ids=[str(r) for r in BODY_ROUTES])
def test_missing_required_fields_are_named(
    sweep: TestClient, auth_headers: dict[str, str], route: RouteInfo
) -> None:
    model = route.body_model
    valid = minimal_valid_body(model)
    required = [name for name, is_required in _wire_names(model).items() if is_required]
    for field in required:
        body = {key: value for key, value in valid.items() if key != field}
        response = _post(sweep, route, auth_headers, json=body)
        envelope = check_error(response, "INVALID_ARGUMENTS", 2)
        _assert_names_field(envelope, field)


@pytest.mark.parametrize("route", BODY_ROUTES, ids=[str(r) for r in BODY_ROUTES])
def test_wrong_types_are_named(
    sweep: TestClient, auth_headers: dict[str, str], route: RouteInfo
) -> None:
    model = route.body_model
    valid = minimal_valid_body(model)
    checked = 0
    for field in _wire_names(model):
        wrong = wrong_value(model, valid, field)
        if wrong is None:
            continue
        response = _post(sweep, route, auth_headers, json={**valid, field: wrong})
        envelope = check_error(response, "INVALID_ARGUMENTS", 2)
        _assert_names_field(envelope, field)
        checked += 1
    assert checked, f"{route}: no field could be given a wrong type"


NON_JSON_BODIES = (
    (b"this is not json", "application/json"),
    (b'{"human_email": "a@example.com",', "application/json"),
    (b"this is not json", "text/plain"),
    (b"\xff\xfe\x00garbage", "application/octet-stream"),
    (b"[1, 2, 3]", "application/json"),
    (b'"a string"', "application/json"),
    (b"null", "application/json"),
    (b"", "application/json"),
    (b"", ""),
)


@pytest.mark.parametrize("route", BODY_ROUTES, ids=[str(r) for r in BODY_ROUTES])
def test_non_json_bodies_are_invalid_arguments(
    sweep: TestClient, auth_headers: dict[str, str], route: RouteInfo
) -> None:
    for content, content_type in NON_JSON_BODIES:
        headers = {"content-type": content_type} if content_type else {}
        response = _post(sweep, route, auth_headers, content=content, headers=headers)
        envelope = check_error(response, "INVALID_ARGUMENTS", 2)
        # The body as a whole is wrong, not a field called "0" (a JSON decode offset).
        assert envelope["error"]["details"]["field"] == "body", (content, envelope["error"])
        assert "garbage" not in response.text and "not json" not in response.text


def test_body_helpers_can_fail() -> None:
    class Strict(BaseModel):
        count: int = Field(ge=3)
        name: str = Field(min_length=40)
        kind: Literal["a", "b"]
        note: str | None = None

    body = minimal_valid_body(Strict)
    assert set(body) == {"count", "name", "kind"}
    Strict.model_validate(body)
    assert wrong_value(Strict, body, "count") is not None
    assert wrong_value(Strict, body, "kind") is not None


# --- unexpected failures -----------------------------------------------------------------


def test_unhandled_exception_is_an_internal_error_envelope(
    api: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    async def explode() -> None:
        raise RuntimeError("secret-xyz")

    api.app.add_api_route("/__test/explode", explode, methods=["GET"])  # type: ignore[attr-defined]
    client = TestClient(api.app, raise_server_exceptions=False)
    with caplog.at_level(logging.ERROR):
        response = client.get("/__test/explode")
    envelope = check_error(response, "INTERNAL_ERROR", spec_for("INTERNAL_ERROR").exit_code)
    trace_id = envelope["trace_id"]
    assert trace_id in envelope["error"]["message"]
    assert "secret-xyz" not in response.text
    assert "RuntimeError" not in response.text
    assert envelope["error"]["retryable"] is True
    records = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert records, "the failure must be logged"
    logged = "\n".join(record.getMessage() for record in records)
    # The operator greps the log for the trace id the caller reports.
    assert trace_id in logged
    # The operator gets the exception's type and frames; its message (which could hold
    # a prompt, a URL or a key) stays out of the log.
    assert "builtins.RuntimeError: <message withheld>" in logged
    assert "in explode" in logged
    assert "secret-xyz" not in caplog.text


def test_success_responses_carry_the_headers_too(api: TestClient) -> None:
    response = api.get("/healthz")
    assert response.status_code == 200
    envelope = response.json()
    assert_envelope(envelope, ok=True)
    assert envelope["command"] == "image-skill doctor"
    assert response.headers[EXIT_CODE_HEADER] == "0"
    assert response.headers[TRACE_HEADER] == envelope["trace_id"]
    assert api.get("/healthz").json()["trace_id"] != envelope["trace_id"]
