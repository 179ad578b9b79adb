"""The CLI's surface: help, version, doctor, serve, bad usage,
human vs --json output, an unreachable service, and the HTTP exit-code header."""

from __future__ import annotations

import json
import re
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from image_skill import __version__
from image_skill.contract.tokens import generate_token
from tests.support.cli import RunCli, checked_until_teardown, expect
from tests.support.envelopes import assert_envelope
from tests.support.servers import Server, free_port

# Commands of the 0.1.0 surface this build does not offer (yet): the list shrinks as they land.
SIGNUP = ("signup", "--agent", "--human-email", "s@example.com", "--agent-name", "surface")
CORE_COMMANDS = {
    "image-skill help",
    "image-skill version",
    "image-skill doctor",
    "image-skill signup",
    "image-skill whoami",
    "image-skill usage quota",
    "image-skill quota",
    "image-skill auth status",
    "image-skill auth save",
    "image-skill auth logout",
    "image-skill serve",
}


@pytest.fixture
def run(cli: RunCli, request: pytest.FixtureRequest) -> Iterator[RunCli]:
    """``cli``, checked: no traceback anywhere; no token on stderr or in the server log."""
    yield from checked_until_teardown(cli, request)


def nowhere() -> str:
    """A loopback URL with nothing listening."""
    return f"http://127.0.0.1:{free_port()}"


# -- help and version --------------------------------------------------------------


@pytest.mark.parametrize("argv", [["help"], ["--help"], ["-h"], []], ids=repr)
def test_help_human(run: RunCli, argv: list[str]) -> None:
    result = run(*argv)
    assert result.exit_code == 0 and result.stderr == ""
    assert result.stdout.startswith("usage: image-skill [")
    listed = set(re.findall(r"^  (image-skill [a-z -]+?)\s{2,}", result.stdout, re.MULTILINE))
    assert listed >= CORE_COMMANDS


@pytest.mark.parametrize(
    "argv", [["help", "--json"], ["--help", "--json"], ["-h", "--json"], ["--json"]], ids=repr
)
def test_help_json(run: RunCli, argv: list[str]) -> None:
    data = expect(run(*argv), 0)["data"]
    assert data["usage"].startswith("usage: image-skill [")
    assert {c["command"] for c in data["commands"]} >= CORE_COMMANDS
    assert all(c["summary"] for c in data["commands"])


@pytest.mark.parametrize(
    ("argv", "usage", "commands"),
    [
        (["whoami", "--help"], "image-skill whoami", []),
        (["help", "usage", "quota"], "image-skill usage quota", []),
        (["help", "auth"], "image-skill auth", ["status", "save", "logout"]),
        (["auth", "-h"], "image-skill auth", ["status", "save", "logout"]),
    ],
    ids=repr,
)
def test_help_for_one_command(
    run: RunCli, argv: list[str], usage: str, commands: list[str]
) -> None:
    data = expect(run(*argv, "--json"), 0)["data"]
    assert data["usage"].startswith(f"usage: {usage} ")
    assert [c["command"] for c in data["commands"]] == [f"{usage} {c}" for c in commands]


@pytest.mark.parametrize("argv", [["version"], ["--version"], ["-v"]])
def test_version_human(run: RunCli, argv: list[str]) -> None:
    result = run(*argv)
    assert (result.exit_code, result.stdout, result.stderr) == (
        0,
        f"image-skill {__version__}\n",
        "",
    )


@pytest.mark.parametrize(
    "argv",
    [["version", "--json"], ["--version", "--json"], ["-v", "--json"], ["--json", "-v"]],
    ids=repr,
)
def test_version_json(run: RunCli, argv: list[str]) -> None:
    envelope = expect(run(*argv), 0)
    assert envelope["command"] == "image-skill version"
    assert envelope["data"]["version"] == __version__
    assert envelope["data"]["api_version"] == "v1"


# -- bad usage and commands this build does not offer ------------------------------


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["bogus"], ""),
        (["--bogus"], ""),
        (["whoami", "--bogus"], "whoami"),
        (["whoami", "extra-word"], "whoami"),
        (["auth", "bogus"], "auth"),
        (["auth", "status", "--nope"], "auth status"),
        (["signup", "--agent", "--nope"], "signup"),
        (["signup", "--human-email"], "signup"),
        (["help", "nope"], "help"),
        (["version", "--bogus"], "version"),
        (["serve", "--port", "abc"], "serve"),
        (["serve", "--log-level", "loud"], "serve"),
    ],
    ids=repr,
)
def test_bad_usage_is_invalid_arguments(run: RunCli, argv: list[str], command: str) -> None:
    envelope = expect(run(*argv, "--json"), 2, "INVALID_ARGUMENTS")
    assert envelope["command"] == f"image-skill {command}".strip()
    assert envelope["error"]["recovery"]["suggested_command"].startswith("image-skill")


@pytest.mark.parametrize(
    ("group", "subcommands"), [("auth", "status, save, logout"), ("claim", "request, status, link")]
)
def test_group_without_subcommand_names_its_subcommands(
    run: RunCli, group: str, subcommands: str
) -> None:
    envelope = expect(run(group, "--json"), 2, "INVALID_ARGUMENTS")
    assert envelope["command"] == f"image-skill {group}"
    assert envelope["error"]["message"].endswith(f"needs a subcommand: {subcommands}.")
    assert envelope["error"]["recovery"]["suggested_command"] == f"image-skill {group} --help"


def test_usage_alone_is_usage_quota(run: RunCli) -> None:
    envelope = expect(run("usage", "--json"), 0)
    assert envelope["command"] == "image-skill usage quota"
    assert "spending" in envelope["data"]


@pytest.mark.parametrize("json_mode", [True, False], ids=["json", "human"])
@pytest.mark.parametrize(
    "argv",
    [["{token}"], ["help", "{token}"], ["whoami", "{token}"], ["auth", "save", "{token}"]],
    ids=repr,
)
def test_token_typed_in_the_wrong_place_is_never_echoed(
    run: RunCli, argv: list[str], json_mode: bool
) -> None:
    token = generate_token()
    result = run(*[a.format(token=token) for a in argv], *(["--json"] if json_mode else []))
    assert result.exit_code == 2
    assert token not in result.stdout + result.stderr
    assert "INVALID_ARGUMENTS" in (result.stdout if json_mode else result.stderr)


# -- human output vs --json ---------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "exit_code", "code"),
    [
        (["bogus"], 2, "INVALID_ARGUMENTS"),
        (["auth"], 2, "INVALID_ARGUMENTS"),
        (["signup", "--agent"], 2, "INVALID_ARGUMENTS"),
        (["whoami", "--api-base-url", "{nowhere}"], 7, "HOSTED_API_REQUEST_FAILED"),
        (["help", "auth"], 0, None),
    ],
    ids=repr,
)
def test_human_and_json_modes_agree(
    run: RunCli, argv: list[str], exit_code: int, code: str | None
) -> None:
    argv = [a.format(nowhere=nowhere()) for a in argv]
    as_json = run(*argv, "--json")
    envelope = expect(as_json, exit_code, code)
    assert as_json.stderr == ""
    human = run(*argv)
    assert human.exit_code == exit_code
    if code is None:
        assert human.stderr == "" and "image-skill auth status" in human.stdout
        assert not human.stdout.lstrip().startswith("{")
        return
    assert human.stdout == ""
    lines = human.stderr.splitlines()
    assert lines[0] == f"error [{code}]: {envelope['error']['message']}"
    recovery = envelope["error"].get("recovery") or {}
    if "suggested_command" in recovery:
        assert f"  try: {recovery['suggested_command']}" in lines
    if "required_flag" in recovery:
        assert f"  add: {recovery['required_flag']}" in lines


# -- an unreachable service ------------------------------------------------------------


@pytest.mark.parametrize("via", ["flag", "env"])
@pytest.mark.parametrize(
    "argv",
    [
        ["whoami"],
        ["doctor"],
        ["usage", "quota"],
        ["quota"],
        ["auth", "status"],
        ["auth", "save"],
        [*SIGNUP, "--save"],
    ],
    ids=repr,
)
def test_unreachable_service(run: RunCli, isolated_home: Path, argv: list[str], via: str) -> None:
    url = nowhere()
    env = {"IMAGE_SKILL_TOKEN": generate_token()}
    if via == "env":
        env["IMAGE_SKILL_API_BASE_URL"] = url
    flag = ["--api-base-url", url] if via == "flag" else []
    error = expect(run(*argv, *flag, "--json", env=env), 7, "HOSTED_API_REQUEST_FAILED")["error"]
    assert error["retryable"] is True
    assert error["recovery"]["suggested_command"] == "image-skill doctor --json"
    assert not (isolated_home / "config" / "config.json").exists()


# -- doctor and serve ------------------------------------------------------------------


def checks_of(envelope: dict[str, Any]) -> dict[str, str]:
    return {check["name"]: check["status"] for check in envelope["data"]["checks"]}


def test_doctor_against_server(server: Server, run: RunCli, isolated_home: Path) -> None:
    base = ("--api-base-url", server.base_url, "--json")
    anonymous = expect(run("doctor", *base), 0)
    data = anonymous["data"]
    assert (data["mode"], data["api_version"], data["api_base_url"]) == (
        "server",
        "v1",
        server.base_url,
    )
    assert data["service"]["status"] == "ok" and data["cli_version"] == __version__
    assert data["status"] == "degraded" and checks_of(anonymous)["auth"] == "warn"

    expect(run(*SIGNUP, "--save", *base), 0)
    healthy = expect(run("doctor", *base), 0)
    assert healthy["data"]["status"] == "ok"
    assert set(checks_of(healthy).values()) == {"ok"}

    bad_token = expect(run("doctor", *base, env={"IMAGE_SKILL_TOKEN": generate_token()}), 0)
    assert checks_of(bad_token)["auth"] == "fail" and bad_token["data"]["status"] == "degraded"

    (isolated_home / "config" / "config.json").chmod(0o644)
    loose = expect(run("doctor", *base), 0)
    assert checks_of(loose)["config"] == "warn" and loose["data"]["status"] == "degraded"


def test_doctor_embedded(run: RunCli) -> None:
    envelope = expect(run("doctor", "--json"), 0)
    data = envelope["data"]
    assert (data["status"], data["mode"], data["api_base_url"]) == ("ok", "embedded", None)
    assert data["api_version"] == "v1" and checks_of(envelope)["auth"] == "ok"
    human = run("doctor")
    assert human.exit_code == 0 and "status: ok" in human.stdout and human.stderr == ""


def test_serve_failures(run: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IMAGE_SKILL_TOKEN_PEPPER", raising=False)
    production = {"IMAGE_SKILL_ENVIRONMENT": "production"}
    unsafe = run("serve", "--port", str(free_port()), "--json", env=production, timeout=20)
    assert "IMAGE_SKILL_TOKEN_PEPPER" in expect(unsafe, 2, "INVALID_ARGUMENTS")["error"]["message"]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        db = {"IMAGE_SKILL_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}"}
        in_use = run("serve", "--port", port, "--json", env=db, timeout=30)
    expect(in_use, 7, "SERVICE_UNAVAILABLE")


# -- human mode against a server -------------------------------------------------------


def test_human_mode_against_server(server: Server, run: RunCli, isolated_home: Path) -> None:
    base = ("--api-base-url", server.base_url)
    saved = run(*SIGNUP, "--save", *base)
    token = json.loads((isolated_home / "config" / "config.json").read_text())["token"]
    assert saved.exit_code == 0 and saved.stderr == ""
    assert token not in saved.stdout and "token_redacted: isk_r_" in saved.stdout

    who = run("whoami", *base)
    assert who.exit_code == 0 and who.stderr == ""
    assert "actor_type: agent" in who.stdout and "local_owner: False" in who.stdout
    quota = run("quota", *base)
    assert quota.exit_code == 0 and "jobs today: 0 of 2" in quota.stdout

    flagged = run("whoami", *base, "--token", token)
    assert flagged.exit_code == 0 and flagged.stderr.startswith("warning: A token on the command")

    shown = run(*SIGNUP, "--show-token", *base)
    new = re.findall(r"^token: (isk_r_\S+)$", shown.stdout, re.MULTILINE)
    assert shown.exit_code == 0 and len(new) == 1 and shown.stdout.count(new[0]) == 1
    assert "shown once" in shown.stderr

    revoked = run("whoami", *base)  # the saved token was rotated away
    assert (revoked.exit_code, revoked.stdout) == (3, "")
    assert revoked.stderr.startswith("error [TOKEN_REVOKED]: ")
    ok = run("whoami", *base, env={"IMAGE_SKILL_TOKEN": new[0]})
    assert ok.exit_code == 0 and "actor_type: agent" in ok.stdout


# -- the HTTP exit-code header ---------------------------------------------------------


def http(
    server: Server, method: str, path: str, *, token: str | None = None, body: Any = None
) -> tuple[int, dict[str, str], dict[str, Any]]:
    """One raw request: status, lower-cased headers, envelope."""
    request = urllib.request.Request(
        server.base_url + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"content-type": "application/json"} if body is not None else {},
    )
    if token is not None:
        request.add_header("authorization", token)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, headers, raw = error.code, error.headers, error.read()
    envelope = json.loads(raw)
    lowered = {k.lower(): v for k, v in headers.items()}
    assert lowered["x-image-skill-trace-id"] == envelope["trace_id"]
    return status, lowered, envelope


def test_http_exit_code_header_matches_cli(server: Server, run: RunCli) -> None:
    signup = {"human_email": "x@example.com", "agent_name": "http-bot", "runtime": "pytest"}
    created = http(server, "POST", "/v1/agent-signups", body=signup)
    token = created[2]["data"]["token"]
    rotated = http(server, "POST", "/v1/agent-signups", token=f"Bearer {token}", body=signup)
    fresh = rotated[2]["data"]["token"]
    cases = [  # (response, status, exit code, error code)
        (http(server, "GET", "/healthz"), 200, 0, None),
        (created, 201, 0, None),
        (rotated, 200, 0, None),
        (http(server, "GET", "/v1/whoami", token=f"Bearer {fresh}"), 200, 0, None),
        (http(server, "GET", "/v1/quota", token=f"Bearer {fresh}"), 200, 0, None),
        (http(server, "GET", "/v1/whoami"), 401, 3, "AUTH_REQUIRED"),
        (http(server, "GET", "/v1/quota", token="Bearer garbage"), 401, 3, "AUTH_INVALID"),
        (http(server, "GET", "/v1/whoami", token=f"Basic {fresh}"), 401, 3, "AUTH_INVALID"),
        (http(server, "GET", "/v1/whoami", token=f"Bearer {token}"), 401, 3, "TOKEN_REVOKED"),
        (http(server, "POST", "/v1/agent-signups", body={}), 400, 2, "INVALID_ARGUMENTS"),
        (
            http(server, "POST", "/v1/agent-signups", body={**signup, "human_email": "nope"}),
            400,
            2,
            "INVALID_ARGUMENTS",
        ),
        (http(server, "GET", "/v1/no-such-route"), 404, 1, "NOT_FOUND"),
        (http(server, "DELETE", "/v1/whoami"), 405, 2, "METHOD_NOT_ALLOWED"),
    ]
    for (status, headers, envelope), want_status, want_exit, want_code in cases:
        assert (status, headers["x-image-skill-exit-code"]) == (want_status, str(want_exit))
        assert_envelope(envelope, ok=want_code is None)
        assert (envelope["error"] or {}).get("code") == want_code
    assert created[2]["data"]["rotated"] is False and rotated[2]["data"]["rotated"] is True
    assert cases[0][0][2]["data"]["status"] == "ok" and cases[0][0][2]["data"]["api_version"]

    # The CLI exits with exactly what the header said for the same situation.
    base = ("--api-base-url", server.base_url, "--json")
    expect(run("whoami", *base), 3, "AUTH_REQUIRED")
    expect(run("whoami", *base, env={"IMAGE_SKILL_TOKEN": token}), 3, "TOKEN_REVOKED")
    expect(run("quota", *base, env={"IMAGE_SKILL_TOKEN": fresh}), 0)
    bad_email = ("signup", "--agent", "--human-email", "nope", "--agent-name", "b", "--save")
    expect(run(*bad_email, *base), 2, "INVALID_ARGUMENTS")
