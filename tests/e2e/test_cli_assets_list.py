"""``assets list`` through the real CLI: embedded, against ``image-skill serve``, and
over the ``/v1/cli`` bridge; the human table, the filters, paging and NOT_FOUND hints."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.support.agents import cli_sign_up
from tests.support.cli import RunCli, checked, expect
from tests.support.images import png_bytes
from tests.support.servers import Server, http_call

ROW = re.compile(r"image_\S+  (generated|edited|uploaded)  \d+x\d+  image/\w+  job_\S+  \S+Z.*")


@pytest.fixture
def run(cli: RunCli) -> RunCli:
    return checked(cli)


def listed(run: RunCli, *args: str) -> dict[str, Any]:
    data: dict[str, Any] = expect(run("assets", "list", *args, "--json"), 0)["data"]
    return data


def ids(data: dict[str, Any]) -> list[str]:
    return [asset["asset_id"] for asset in data["assets"]]


def make_two(run: RunCli, tmp_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """An uploaded asset, then a created one (so the created one is newest)."""
    picture = tmp_path / "in.png"
    picture.write_bytes(png_bytes(24, 16))
    uploaded = expect(run("upload", str(picture), "--json"), 0)["data"]["asset"]
    created = expect(run("create", "--prompt", "a lighthouse", "--json"), 0)["data"]
    return uploaded, created["assets"][0]


@pytest.mark.slow  # cold embedded CLI processes, about two seconds each on a busy machine
def test_assets_list_in_embedded_mode(run: RunCli, tmp_path: Path) -> None:
    empty = run("assets", "list")
    assert (empty.exit_code, empty.stdout) == (0, "No assets.\n")
    uploaded, generated = make_two(run, tmp_path)
    assert ids(listed(run, "--kind", "uploaded")) == [uploaded["asset_id"]]

    human = run("assets", "list", "--limit", "1")
    lines = human.stdout.splitlines()
    assert human.exit_code == 0 and len(lines) == 2, human.stdout
    assert lines[0].startswith(generated["asset_id"] + "  generated  1024x1024")
    assert ROW.fullmatch(lines[0]) and lines[0].endswith("(stand-in)")
    assert re.fullmatch(
        r"more: image-skill assets list --cursor image_\S+ \(same --kind/--job\)", lines[1]
    )


def test_assets_list_against_a_server_and_the_bridge(
    server: Server, run: RunCli, tmp_path: Path
) -> None:
    agent = cli_sign_up(run, server.base_url)
    uploaded, generated = make_two(run, tmp_path)
    data = listed(run)
    assert ids(data) == [generated["asset_id"], uploaded["asset_id"]]
    assert all(asset["url"].startswith(server.base_url + "/a/") for asset in data["assets"])
    assert ids(listed(run, "--kind", "uploaded")) == [uploaded["asset_id"]]
    assert ids(listed(run, "--kind", "generated")) == [generated["asset_id"]]
    assert ids(listed(run, "--kind", "edited")) == []
    assert ids(listed(run, "--job", generated["job_id"])) == [generated["asset_id"]]
    first = listed(run, "--limit", "1")
    assert ids(first) == [generated["asset_id"]]
    second = listed(run, "--limit", "1", "--cursor", first["next_cursor"])
    assert (ids(second), second["next_cursor"]) == ([uploaded["asset_id"]], None)
    expect(run("assets", "list", "--kind", "painted", "--json"), 2, "INVALID_ARGUMENTS")
    expect(run("assets", "list", "--limit", "0", "--json"), 2, "INVALID_ARGUMENTS")
    expect(run("assets", "list", "--cursor", "job_123", "--json"), 2, "INVALID_ARGUMENTS")

    # NOT_FOUND names the command that lists what does exist.
    missing = expect(run("assets", "show", "image_doesnotexist", "--json"), 1, "NOT_FOUND")
    assert missing["error"]["recovery"]["suggested_command"] == "image-skill assets list --json"
    missing = expect(run("jobs", "show", "job_doesnotexist", "--json"), 1, "NOT_FOUND")
    assert missing["error"]["recovery"]["suggested_command"] == "image-skill jobs list --json"
    human = run("assets", "show", "image_doesnotexist")
    assert "try: image-skill assets list --json" in human.stderr

    body = {"argv": ["assets", "list", "--kind", "uploaded"]}
    status, _headers, answer = http_call(server, "POST", "/v1/cli", body, agent.token, timeout=30)
    envelope = json.loads(answer)
    assert status == 200, envelope
    assert envelope["command"] == "image-skill assets list"
    assert [a["asset_id"] for a in envelope["data"]["assets"]] == [uploaded["asset_id"]]

    # Another agent (its own organization) sees none of them.
    cli_sign_up(run, server.base_url, email="other@example.com", name="other-bot")
    assert listed(run)["assets"] == []
