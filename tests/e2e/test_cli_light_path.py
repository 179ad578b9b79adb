"""The two hottest CLI paths import only what they use (issue 15's start-up targets).

``--version --json`` answers before any parser exists; a hosted ``whoami --json``
builds only its own command module's parsers and talks HTTP over a plain
socket. Each module held out here costs milliseconds a tight agent loop pays on
every call.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.burst import signup
from tests.support.daemons import kill_daemons
from tests.support.servers import running_server

# Never on either path: parsers of other commands, the error-suggestion machinery, the
# config writer, the stdlib HTTP stack (email parsing, TLS for plain http) and platform.
NEVER = (
    "pydantic",
    "httpx",
    "fastapi",
    "sqlalchemy",
    "difflib",
    "secrets",
    "hashlib",
    "encodings.idna",
    "tempfile",
    "platform",
    "http.client",
    "email",
    "ssl",
    "image_skill.cli.uploads",
    "image_skill.cli.config",
    "image_skill.contract.tokens",
    "image_skill.transport.embedded",
    "image_skill.daemon",
)

# Never on the hosted whoami path either: no parser is built or imported (``cli.quick``),
# and no dataclass, typing, pathlib, datetime or urllib.parse (ipaddress) import is needed.
NEVER_HOSTED = (
    "argparse",
    "gettext",
    "image_skill.cli.parser",
    "image_skill.contract.creative",
    "shutil",
    "dataclasses",
    "inspect",
    "typing",
    "pathlib",
    "datetime",
    "urllib.parse",
    "ipaddress",
)

# Runs the CLI and then lists sys.modules (``-X importtime`` misses importlib.import_module).
_LIST_MODULES = (
    "import sys\n"
    "from image_skill.cli.main import main\n"
    "code = main(sys.argv[1:])\n"
    "sys.stderr.write('\\n'.join(sorted(sys.modules)))\n"
    "raise SystemExit(code)\n"
)


def run_listing(*args: str) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    """Every module loaded once the CLI has answered ``args``, and the process."""
    completed = subprocess.run(
        [sys.executable, "-c", _LIST_MODULES, *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    return set(completed.stderr.splitlines()), completed


def loaded(modules: set[str], roots: tuple[str, ...]) -> list[str]:
    """The ``modules`` that are ``roots`` or inside them."""
    return sorted(m for m in modules if any(m == r or m.startswith(r + ".") for r in roots))


def ours(modules: set[str]) -> set[str]:
    return {name for name in modules if name.startswith("image_skill")}


def test_version_json_builds_no_parser_and_answers_as_the_version_command() -> None:
    modules, completed = run_listing("--version", "--json")
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert ours(modules) == {"image_skill", "image_skill.cli", "image_skill.cli.main"}
    assert "argparse" not in modules and "typing" not in modules
    assert loaded(modules, NEVER) == []
    fast = json.loads(completed.stdout)
    # The same envelope the full path gives ``version --json`` (the command word).
    full = json.loads(
        subprocess.run(
            [sys.executable, "-m", "image_skill", "version", "--json"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
    )
    assert fast["trace_id"].startswith("trace_") and len(fast["trace_id"]) == len(full["trace_id"])
    assert {**fast, "trace_id": None} == {**full, "trace_id": None}
    assert list(fast) == list(full)
    for flags in (["--json", "--version"], ["-v", "--json"]):
        again = subprocess.run(
            [sys.executable, "-m", "image_skill", *flags],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        assert json.loads(again.stdout)["data"] == fast["data"]


def test_hosted_whoami_imports_only_its_command_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running_server(f"sqlite:///{tmp_path / 'light.db'}", tmp_path) as server:
        token, actor_id = signup(server.base_url, "light-path")
        monkeypatch.setenv("IMAGE_SKILL_TOKEN", token)
        modules, completed = run_listing("--api-base-url", server.base_url, "whoami", "--json")
    envelope = json.loads(completed.stdout)
    assert completed.returncode == 0 and envelope["ok"] is True, completed.stdout[-2000:]
    assert envelope["actor"]["actor_id"] == actor_id
    commands = {name for name in modules if name.startswith("image_skill.cli.commands.")}
    assert commands == {"image_skill.cli.commands.identity", "image_skill.cli.commands.quota_view"}
    assert loaded(modules, NEVER) == []
    assert loaded(modules, NEVER_HOSTED) == []
    assert "image_skill.transport.http" in modules


@pytest.mark.slow
def test_a_warm_embedded_whoami_talks_to_the_daemon_without_an_http_library(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGE_SKILL_EMBEDDED_DAEMON", "1")
    monkeypatch.setenv("IMAGE_SKILL_DAEMON_IDLE_SECONDS", "60")
    try:
        _, first = run_listing("whoami", "--json")  # starts the daemon
        modules, completed = run_listing("whoami", "--json")
    finally:
        kill_daemons(isolated_home / "data")
    assert first.returncode == 0, first.stdout[-2000:]
    assert completed.returncode == 0 and json.loads(completed.stdout)["ok"] is True
    assert "image_skill.transport.unix" in modules, "the warm daemon must have answered"
    heavy = ("http.client", "email", "fastapi", "sqlalchemy", "image_skill.service")
    assert loaded(modules, heavy) == []
