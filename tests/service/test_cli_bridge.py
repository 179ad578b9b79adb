"""``POST /v1/cli``: public CLI commands run inside the service, on both databases.

The command runs with the caller's token against the same app (in-process
loopback), answers exactly the command's envelope and exit code, refuses
anything that would act on the server's machine, and never borrows the
server's own token or config.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, MetaData, create_engine, select

from image_skill.bridge import allowed_commands
from image_skill.bridge.routes import forwarded_token, status_for
from image_skill.contract import commands
from image_skill.contract.envelope import EXIT_CODE_HEADER, TRACE_HEADER
from image_skill.contract.errors import spec_for
from image_skill.contract.tokens import generate_token
from image_skill.server import create_server_app
from image_skill.service.settings import to_async_url, to_sync_url
from tests.support.agents import Signup, sign_up
from tests.support.apps import service_settings, started_app
from tests.support.databases import blank_database
from tests.support.envelopes import assert_envelope, ok
from tests.support.plugins import counting

Bridge = Callable[..., Response]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- one started app per database kind for the module (each test signs up its own agents) ---


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, str]]:
    workdir = tmp_path_factory.mktemp(f"bridge-{request.param}")
    with (
        blank_database(request.param, workdir) as url,
        TestClient(create_server_app(service_settings(url, workdir / "home"))) as client,
    ):
        yield client, url


@pytest.fixture
def api(served: tuple[TestClient, str]) -> TestClient:
    return served[0]


@pytest.fixture
def db(served: tuple[TestClient, str]) -> Iterator[Engine]:
    engine = create_engine(to_sync_url(to_async_url(served[1])))
    yield engine
    engine.dispose()


@pytest.fixture
def signup(api: TestClient) -> Signup:
    """``signup(label)`` -> the success envelope of a fresh agent (unique per call)."""

    def run(label: str = "bot") -> dict[str, Any]:
        unique = f"{label}-{uuid.uuid4().hex[:8]}"
        body = {"human_email": f"{unique}@example.com", "agent_name": unique, "return_token": True}
        response = api.post("/v1/agent-signups", json=body)
        assert response.status_code == 201, response.text
        envelope: dict[str, Any] = response.json()
        return envelope

    return run


@pytest.fixture
def bridge(api: TestClient) -> Bridge:
    """``bridge(*argv, token=None, headers=None)`` -> the response of ``POST /v1/cli``."""

    def call(
        *argv: str, token: str | None = None, headers: dict[str, str] | None = None
    ) -> Response:
        sent = {**(bearer(token) if token else {}), **(headers or {})}
        return api.post("/v1/cli", json={"argv": list(argv)}, headers=sent)

    return call


def answer(response: Response, exit_code: int, code: str | None = None) -> dict[str, Any]:
    """The envelope, checked against the exit-code header, the status and the trace header."""
    envelope: dict[str, Any] = response.json()
    assert_envelope(envelope, ok=code is None)
    assert response.headers[EXIT_CODE_HEADER] == str(exit_code), envelope
    assert response.headers[TRACE_HEADER] == envelope["trace_id"]
    if code is None:
        assert response.status_code == 200, envelope
    else:
        assert envelope["error"]["code"] == code, envelope["error"]
        assert response.status_code == spec_for(code).http_status, envelope
    return envelope


def snapshot(db: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table."""
    metadata = MetaData()
    metadata.reflect(db)
    with db.connect() as conn:
        return {
            name: sorted(tuple(map(repr, row)) for row in conn.execute(select(table)))
            for name, table in metadata.tables.items()
        }


# --- running commands ----------------------------------------------------------------------


def test_models_list_equals_the_models_route(api: TestClient, bridge: Bridge) -> None:
    envelope = answer(bridge("models", "list"), 0)
    assert envelope["command"] == "image-skill models list"
    direct = api.get("/v1/models").json()
    assert envelope["data"] == direct["data"]
    assert envelope["data"]["models"], "the catalog must not be empty"
    # The group alone runs its default command, like the CLI.
    assert answer(bridge("models"), 0)["data"] == direct["data"]


def test_whoami_is_the_caller(bridge: Bridge, signup: Signup) -> None:
    first = signup("one")["data"]
    second = signup("two")["data"]
    for agent in (first, second):
        envelope = answer(bridge("whoami", token=agent["token"]), 0)
        assert envelope["command"] == "image-skill whoami"
        assert envelope["actor"] == agent["actor"]
        assert envelope["data"]["actor"]["actor_id"] == agent["actor"]["actor_id"]
    quota = answer(bridge("usage", "quota", token=first["token"]), 0)
    assert quota["command"] == "image-skill usage quota"
    assert quota["data"]["credits"]["balance"] == first["quota"]["free_preview_credits_granted"]


def test_no_token_is_auth_required(bridge: Bridge) -> None:
    for argv in (["whoami"], ["quota"], ["create", "--prompt", "x", "--dry-run"]):
        envelope = answer(bridge(*argv), 3, "AUTH_REQUIRED")
        assert envelope["command"] == f"image-skill {argv[0]}"
        assert envelope["actor"] is None


def test_a_bad_authorization_header_is_passed_on(bridge: Bridge, signup: Signup) -> None:
    token = signup()["data"]["token"]
    answer(bridge("whoami", headers={"Authorization": "Basic dXNlcjpwYXNz"}), 3, "AUTH_INVALID")
    answer(bridge("whoami", token=generate_token()), 3, "AUTH_INVALID")
    # Public commands ignore the header, as their routes do.
    answer(bridge("models", "list", headers={"Authorization": "Basic dXNlcjpwYXNz"}), 0)
    assert forwarded_token(f"bearer  {token} ") == token
    assert forwarded_token(None) is None and forwarded_token("  ") is None
    assert forwarded_token("Basic abc") == "Basic abc"


def test_create_dry_run_works_and_changes_nothing(
    bridge: Bridge, signup: Signup, db: Engine
) -> None:
    agent = signup()["data"]
    before = snapshot(db)
    envelope = answer(
        bridge("create", "--prompt", "a red circle", "--dry-run", token=agent["token"]), 0
    )
    assert envelope["command"] == "image-skill create"
    assert envelope["actor"] == agent["actor"]
    assert envelope["data"]["dry_run"] is True
    assert snapshot(db) == before
    quota = answer(bridge("quota", token=agent["token"]), 0)["data"]
    assert quota["jobs"]["used_today"] == 0
    assert quota["credits"]["balance"] == agent["quota"]["free_preview_credits_granted"]


def test_create_then_edit_an_owned_asset(
    bridge: Bridge, signup: Signup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = signup()["data"]["token"]
    created = answer(bridge("create", "--prompt", "a red circle", token=token), 0)["data"]
    asset = created["assets"][0]
    # The asset URL is built from the outer request, as a direct call would build it.
    assert asset["url"].startswith("http://testserver/a/")
    edited = answer(
        bridge("edit", "--input", asset["url"], "--prompt", "grayscale", token=token), 0
    )
    assert edited["command"] == "image-skill edit"
    assert edited["data"]["assets"][0]["asset_id"] != asset["asset_id"]
    assert "input_upload" not in edited["data"]
    # An asset id is an asset id on the server, even when a file of that name is in its cwd.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "image_nosuchasset").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    missing = answer(
        bridge("edit", "--input", "image_nosuchasset", "--prompt", "grayscale", token=token),
        1,
        "NOT_FOUND",
    )
    assert missing["command"] == "image-skill edit"


# --- refusals ---------------------------------------------------------------------------

REFUSED_COMMANDS: list[tuple[list[str], str]] = [
    (["upload", "/etc/hostname"], "POST /v1/upload"),
    (["upload", "https://example.com/a.png"], "POST /v1/upload"),
    (["upload"], "POST /v1/upload"),
    (["edit", "--input", "/etc/hostname", "--prompt", "x"], "POST /v1/upload"),
    (["edit", "--input", "https://example.com/a.png", "--prompt", "x"], "POST /v1/upload"),
    (["assets", "get", "image_abc", "--output", "{tmp}/out.png"], "GET /v1/assets/{asset_id}"),
    (["auth", "status"], "GET /v1/whoami"),
    (["auth", "save"], "GET /v1/whoami"),
    (["auth", "logout"], "GET /v1/whoami"),
    (["auth"], "GET /v1/whoami"),
    (
        ["signup", "--agent", "--human-email", "s@example.com", "--agent-name", "s", "--save"],
        "POST /v1/agent-signups",
    ),
    (["create", "--prompt-file", "/etc/hostname"], "POST /v1/create"),
    (["edit", "--input", "image_abc", "--prompt-file", "/etc/hostname"], "POST /v1/edit"),
    (["doctor"], "GET /healthz"),
    (["serve", "--port", "1"], "GET /healthz"),
    (["admin", "agents", "list"], "POST /v1/cli"),
    (["admin", "credits", "grant", "agt_x", "--credits", "5", "--reason", "x"], "POST /v1/cli"),
    (["upload", "--help"], "POST /v1/upload"),
]


def test_commands_that_touch_the_server_machine_are_refused(
    bridge: Bridge, signup: Signup, db: Engine, tmp_path: Path, isolated_home: Path
) -> None:
    token = signup()["data"]["token"]
    config = isolated_home / "config" / "config.json"
    config.parent.mkdir(parents=True)
    config.write_text(json.dumps({"api_base_url": "http://testserver", "token": token}))
    before = snapshot(db)
    for argv, route in REFUSED_COMMANDS:
        argv = [word.replace("{tmp}", str(tmp_path)) for word in argv]
        envelope = answer(bridge(*argv, token=token), 2, "PUBLIC_CLI_COMMAND_NOT_AVAILABLE")
        error = envelope["error"]
        assert route in error["message"], (argv, error)
        assert error["details"]["route"] == route, (argv, error)
        assert envelope["command"].startswith(f"image-skill {argv[0]}"), (argv, envelope)
        assert "/etc/hostname" not in json.dumps(envelope)
    assert snapshot(db) == before, "a refused command wrote to the database"
    assert not (tmp_path / "out.png").exists()
    assert json.loads(config.read_text())["token"] == token, "auth logout/save ran"


REFUSED_FLAGS: list[tuple[list[str], str]] = [
    (["whoami", "--api-base-url", "http://127.0.0.1:9"], "--api-base-url"),
    (["--api-base-url=http://127.0.0.1:9", "models", "list"], "--api-base-url"),
    (["whoami", "--token", "{token}"], "--token"),
    (["whoami", "--token="], "--token"),
    (["--token-stdin", "whoami"], "--token-stdin"),
    (["quota", "--token-stdin"], "--token-stdin"),
]


def test_global_flags_that_redirect_or_read_secrets_are_refused(
    bridge: Bridge, signup: Signup
) -> None:
    token = signup()["data"]["token"]
    for argv, flag in REFUSED_FLAGS:
        argv = [word.replace("{token}", token) for word in argv]
        response = bridge(*argv)
        envelope = answer(response, 2, "INVALID_ARGUMENTS")
        error = envelope["error"]
        assert error["details"]["field"] == flag, (argv, error)
        assert flag in error["message"] and "POST /v1/cli" in error["message"], error
        assert token not in response.text


def test_abbreviated_flags_are_not_accepted(bridge: Bridge) -> None:
    """``--api-base`` is not taken for ``--api-base-url``: it is unknown, and named."""
    response = bridge("--api-base=http://127.0.0.1:9", "models", "list")
    error = answer(response, 2, "INVALID_ARGUMENTS")["error"]
    assert error["details"]["field"] == "--api-base", error
    assert "Did you mean --api-base-url?" in error["message"], error
    assert "127.0.0.1:9" not in error["message"]


def test_every_cli_command_is_classified() -> None:
    """A command added to the CLI must be reviewed for the bridge (allowed or refused)."""
    seen = set(commands.COMMANDS)
    refused = {name for name in seen if any(name.startswith(p) for p in allowed_commands.REFUSED)}
    unclassified = seen - allowed_commands.ALLOWED - refused
    assert unclassified == set(), f"classify these in allowed_commands: {sorted(unclassified)}"
    stale = allowed_commands.ALLOWED - seen
    assert stale == set(), f"no longer CLI commands: {sorted(stale)}"
    assert {"image-skill whoami", "image-skill upload", "image-skill admin agents list"} <= seen


def test_an_unreviewed_command_is_refused(monkeypatch: pytest.MonkeyPatch, bridge: Bridge) -> None:
    monkeypatch.setattr(
        allowed_commands, "ALLOWED", allowed_commands.ALLOWED - {"image-skill models list"}
    )
    envelope = answer(bridge("models", "list"), 2, "PUBLIC_CLI_COMMAND_NOT_AVAILABLE")
    assert envelope["command"] == "image-skill models list"


# --- bad input ------------------------------------------------------------------------


def test_unknown_commands_and_bad_usage_are_the_clis_own_answer(bridge: Bridge) -> None:
    envelope = answer(bridge("bogus"), 2, "INVALID_ARGUMENTS")
    assert envelope["command"] == "image-skill"
    envelope = answer(bridge("models", "show"), 2, "INVALID_ARGUMENTS")
    assert envelope["command"] == "image-skill models show"
    envelope = answer(
        bridge("jobs", "wait", "job_x", "--timeout-ms", "999999"), 2, "INVALID_ARGUMENTS"
    )
    assert envelope["error"]["details"]["field"] == "--timeout-ms"
    helped = answer(bridge("help", "credits"), 0)
    assert helped["data"]["usage"].startswith("usage: image-skill credits")


def test_argv_is_bounded(api: TestClient, bridge: Bridge) -> None:
    too_many = api.post("/v1/cli", json={"argv": ["help"] + ["x"] * 64})
    envelope = answer(too_many, 2, "INVALID_ARGUMENTS")
    assert envelope["command"] == "image-skill cli"
    assert envelope["error"]["details"]["field"] == "argv"
    too_long = api.post("/v1/cli", json={"argv": ["help", "x" * 8001]})
    envelope = answer(too_long, 2, "INVALID_ARGUMENTS")
    assert envelope["command"] == "image-skill cli"
    assert "x" * 100 not in too_long.text
    # At the bounds the command itself runs (and answers that there is no such topic).
    at_bounds = answer(bridge("help", "x" * 8000, *["y"] * 62), 2, "INVALID_ARGUMENTS")
    assert at_bounds["command"] == "image-skill help"
    for body in ({"argv": "models list"}, {"argv": [1, 2]}, {}):
        answer(api.post("/v1/cli", json=body), 2, "INVALID_ARGUMENTS")


def test_the_servers_own_token_and_config_are_never_used(
    bridge: Bridge, signup: Signup, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server_agent = signup("server")["data"]
    caller = signup("caller")["data"]
    monkeypatch.setenv("IMAGE_SKILL_TOKEN", server_agent["token"])
    monkeypatch.setenv("IMAGE_SKILL_HOSTED_TOKEN", server_agent["token"])
    monkeypatch.setenv("IMAGE_SKILL_API_BASE_URL", "http://127.0.0.1:9")
    config = isolated_home / "config" / "config.json"
    config.parent.mkdir(parents=True)
    config.write_text(
        json.dumps({"api_base_url": "http://testserver", "token": server_agent["token"]})
    )
    assert os.environ["IMAGE_SKILL_TOKEN"] == server_agent["token"]
    envelope = answer(bridge("whoami"), 3, "AUTH_REQUIRED")
    assert envelope["actor"] is None
    envelope = answer(bridge("whoami", token=caller["token"]), 0)
    assert envelope["actor"]["actor_id"] == caller["actor"]["actor_id"]
    # The environment's API base is not used either (it points nowhere).
    answer(bridge("models", "list"), 0)


def test_parallel_bridge_calls_complete(api: TestClient, signup: Signup) -> None:
    agents = [signup(f"p{i}")["data"] for i in range(2)]
    calls: list[tuple[list[str], dict[str, Any]]] = []
    for i in range(10):
        agent = agents[i % 2]
        argv = [["whoami"], ["quota"], ["create", "--prompt", "x", "--dry-run"], ["models"]][i % 4]
        calls.append((argv, agent))

    def run(call: tuple[list[str], dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
        argv, agent = call
        response = api.post("/v1/cli", json={"argv": argv}, headers=bearer(agent["token"]))
        return answer(response, 0), agent

    with ThreadPoolExecutor(max_workers=10) as pool:
        futures = [pool.submit(run, call) for call in calls]
        results = [future.result(timeout=60) for future in futures]
    assert len(results) == 10
    for (argv, _agent), (envelope, agent) in zip(calls, results, strict=True):
        assert envelope["command"].startswith(f"image-skill {argv[0]}")
        if argv[0] != "models":
            assert envelope["actor"]["actor_id"] == agent["actor"]["actor_id"]


def test_status_follows_the_envelope() -> None:
    # A success envelope is 200 whatever the exit code (jobs wait on a failed job exits 7).
    assert status_for({"ok": True, "error": None}) == 200
    assert status_for({"ok": False, "error": {"code": "TOKEN_REVOKED"}}) == 401
    assert status_for({"ok": False, "error": {"code": "DAILY_JOB_CAP_REACHED"}}) == 429


@pytest.mark.parametrize("failure", ["provider_failed", "crash"])
def test_jobs_wait_on_a_failed_job_is_200_with_the_jobs_exit_code(
    failure: str, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Was HTTP 502/500 with ``ok: true``: the status now follows the envelope, and the
    exit-code header is the one the CLI exits with for that failed job."""
    with (
        counting(monkeypatch, tmp_path),
        started_app(database_url, tmp_path / "home") as client,
    ):
        agent = sign_up(client, f"wait-{failure}@example.com", "waiter")
        created = agent.create(model="test.failing", model_parameters={"mode": failure})
        assert created.status_code >= 500, created.text  # the provider failure itself
        (job,) = ok(agent.get("/v1/jobs", params={"status": "failed"}), 200)["jobs"]
        code = job["error"]["code"]
        response = client.post(
            "/v1/cli", json={"argv": ["jobs", "wait", job["job_id"]]}, headers=agent.headers
        )
        envelope = response.json()
        assert_envelope(envelope, ok=True)
        assert response.status_code == 200, envelope
        assert envelope["data"]["job"]["status"] == "failed"
        assert response.headers[EXIT_CODE_HEADER] == str(spec_for(code).exit_code) != "0"
        # The real CLI's answer for the same job: the same envelope kind and exit code.
        shown = client.post(
            "/v1/cli", json={"argv": ["jobs", "show", job["job_id"]]}, headers=agent.headers
        )
        assert shown.status_code == 200 and shown.headers[EXIT_CODE_HEADER] == "0"
