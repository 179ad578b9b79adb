"""``image-skill skill`` and ``image-skill docs`` through the real CLI.

The guide printed is the one in the installed package, in human and JSON form;
``docs`` names files that exist and, against a running server, URLs that serve
the same bytes; neither command starts or imports the service.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from image_skill import __version__, guide
from tests.support.cli import RunCli, checked_until_teardown, expect
from tests.support.servers import Server, free_port, running_server

HEAVY = ("image_skill.service", "fastapi", "starlette", "sqlalchemy", "PIL", "rich", "httpx")


@pytest.fixture
def run(cli: RunCli, request: pytest.FixtureRequest) -> Iterator[RunCli]:
    """``cli``, checked for tracebacks and leaked tokens."""
    yield from checked_until_teardown(cli, request)


@pytest.fixture
def sqlite_server(tmp_path: Path) -> Iterator[Server]:
    """``image-skill serve`` on SQLite (the guide needs no particular database)."""
    with running_server(f"sqlite:///{tmp_path / 'server.db'}", tmp_path) as server:
        yield server


def test_skill_prints_the_shipped_guide(run: RunCli) -> None:
    result = run("skill")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == guide.read("skill").rstrip() + "\n"
    assert "image-skill create" in result.stdout and "## Every command" in result.stdout


def test_skill_json_is_one_envelope_carrying_the_guide(run: RunCli) -> None:
    envelope = expect(run("skill", "--json"), 0)
    assert envelope["command"] == "image-skill skill"
    data = envelope["data"]
    assert data == {"version": __version__, "format": "markdown", "guide": guide.read("skill")}


def test_docs_embedded_lists_readable_files_and_how_to_get_the_api_docs(run: RunCli) -> None:
    envelope = expect(run("docs", "--json"), 0)
    assert envelope["command"] == "image-skill docs"
    data = envelope["data"]
    assert data["mode"] == "embedded"
    refs = data["references"]
    assert set(refs) == {"guide", "cli_reference", "llms_txt", "api_reference"}
    for key, name in (("guide", "skill"), ("cli_reference", "cli"), ("llms_txt", "llms")):
        assert Path(refs[key]["path"]).read_text(encoding="utf-8") == guide.read(name)
        assert refs[key]["url"] is None
    assert refs["guide"]["command"] == "image-skill skill"
    assert refs["api_reference"]["url"] is None
    assert refs["api_reference"]["command"].startswith("image-skill serve")


def test_docs_human_names_each_reference(run: RunCli) -> None:
    result = run("docs")
    assert result.exit_code == 0, result.stderr
    for line in ("guide:", "cli_reference:", "api_reference:", "command: image-skill skill"):
        assert line in result.stdout, result.stdout
    assert "(embedded mode)" in result.stdout


def test_docs_against_a_server_gives_urls_that_serve_the_same_texts(
    run: RunCli, sqlite_server: Server
) -> None:
    base = sqlite_server.base_url
    data = expect(run("docs", "--json", "--api-base-url", base), 0)["data"]
    assert data["mode"] == "server"
    refs = data["references"]
    assert refs["api_reference"]["url"] == base + "/docs"
    for key, name in (("guide", "skill"), ("cli_reference", "cli"), ("llms_txt", "llms")):
        with urllib.request.urlopen(refs[key]["url"], timeout=10) as response:
            assert response.read().decode() == guide.read(name), key
    with urllib.request.urlopen(refs["api_reference"]["url"], timeout=10) as response:
        assert "swagger-ui" in response.read().decode()
    human = run("docs", "--api-base-url", base)
    assert f"url: {base}/cli.md" in human.stdout and "(server mode)" in human.stdout


_PROBE = (
    "import json, sys\n"
    "from image_skill.cli.runner import execute\n"
    "result = execute(sys.argv[1:])\n"
    "print(json.dumps({'exit': result.exit_code, 'modules': sorted(sys.modules)}))"
)


def _modules_after(argv: list[str], env: dict[str, str]) -> list[str]:
    """Every module loaded by running ``image-skill *argv`` in a fresh interpreter."""
    completed = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", **env},
        stdin=subprocess.DEVNULL,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    answer = json.loads(completed.stdout)
    assert answer["exit"] == 0, answer
    return list(answer["modules"])


@pytest.mark.parametrize("command", [["skill"], ["docs"]])
def test_guide_commands_stay_light_and_never_start_the_service(
    command: list[str], tmp_path: Path
) -> None:
    isolated = {
        "IMAGE_SKILL_HOME": str(tmp_path / "home"),
        "IMAGE_SKILL_CONFIG_PATH": str(tmp_path / "config.json"),
    }
    # Against a server nothing listens at: nothing may try to reach it either.
    hosted = {**isolated, "IMAGE_SKILL_API_BASE_URL": f"http://127.0.0.1:{free_port()}"}
    modules = _modules_after([*command, "--json"], hosted)
    heavy = [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)]
    assert heavy == [], heavy[:10]
    embedded = _modules_after([*command, "--json"], isolated)
    assert [m for m in embedded if m.startswith("image_skill.service")] == []
    assert not (tmp_path / "home").exists(), "the embedded service started"
