"""``create/edit --output PATH``: the image saved in the same command, through the real CLI.

Embedded (no server) and against ``image-skill serve`` on both databases: the
file is the asset's bytes (sha256 checked), an existing file is never replaced
without ``--overwrite`` (refused before any job is made), several outputs get
numbered names, a save that fails after the job says how to save without a new
job, and ``--output`` is refused with ``--no-wait``, ``--dry-run`` and over the
``/v1/cli`` bridge (a path on the server's machine).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.openai_api import FakeImagesAPI
from tests.support.agents import cli_sign_up
from tests.support.cli import RunCli, checked_until_teardown, expect, job_ids
from tests.support.databases import blank_database
from tests.support.images import png_bytes, sha256
from tests.support.plugins import plugin_env
from tests.support.servers import Server, http_call, running_server

KEY = "sk-test-output-flag"


@pytest.fixture
def run(
    cli: RunCli, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RunCli]:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "FAL_KEY", "XAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    yield from checked_until_teardown(cli, request)


def assert_saved(data: dict[str, object], *paths: Path) -> None:
    """Each asset saved to its path: the file's bytes are the asset's."""
    assets = data["assets"]
    assert isinstance(assets, list) and len(assets) == len(paths)
    saved = data["saved"]
    assert isinstance(saved, list)
    for asset, record, path in zip(assets, saved, paths, strict=True):
        assert asset["saved_to"] == str(path)
        assert record == {
            "asset_id": asset["asset_id"],
            "path": str(path),
            "bytes": asset["content_length"],
            "sha256": asset["sha256"],
        }
        assert sha256(path.read_bytes()) == asset["sha256"]


@pytest.mark.slow
def test_embedded_create_and_edit_save_verified_files(run: RunCli, tmp_path: Path) -> None:
    out = tmp_path / "made" / "fox.png"  # the directory is made too
    created = expect(run("create", "--prompt", "a red fox", "--output", str(out), "--json"), 0)
    assert_saved(created["data"], out)
    before = job_ids(run)

    # An existing file: refused before any job is made, and left alone.
    out.write_bytes(b"mine, keep me")
    exists = expect(
        run("create", "--prompt", "a red fox", "--output", str(out), "--json"), 9, "OUTPUT_EXISTS"
    )
    assert exists["error"]["recovery"]["required_flag"] == "--overwrite"
    assert out.read_bytes() == b"mine, keep me"
    directory = expect(
        run("create", "--prompt", "a fox", "--output", str(tmp_path), "--json"),
        2,
        "INVALID_ARGUMENTS",
    )
    assert directory["error"]["details"]["field"] == "--output"
    for extra in ("--no-wait", "--dry-run"):
        refused = expect(
            run(
                "create", "--prompt", "a fox", "--output", str(tmp_path / "n.png"), extra, "--json"
            ),
            2,
            "INVALID_ARGUMENTS",
        )
        assert extra in refused["error"]["message"]
        assert refused["error"]["details"]["field"] == "--output"
    assert job_ids(run) == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["fox.png"]  # no temp files

    replaced = expect(
        run("create", "--prompt", "a fox", "--output", str(out), "--overwrite", "--json"), 0
    )
    assert_saved(replaced["data"], out)

    # edit: the input uploaded from a local file, the result saved; human output names it.
    source = tmp_path / "in.png"
    source.write_bytes(png_bytes(64, 48))
    edited_path = tmp_path / "edited.png"
    human = run("edit", "--input", str(source), "--prompt", "mirror", "--output", str(edited_path))
    assert human.exit_code == 0, human.stdout + human.stderr
    assert f"saved: {edited_path}" in human.stdout
    shown = expect(run("jobs", "list", "--limit", "1", "--json"), 0)["data"]["jobs"][0]
    (asset,) = expect(run("jobs", "show", shown["job_id"], "--json"), 0)["data"]["job"]["assets"]
    assert sha256(edited_path.read_bytes()) == asset["sha256"]


def test_out_typo_points_at_output(run: RunCli, tmp_path: Path) -> None:
    out = tmp_path / "fox.png"
    error = expect(
        run("create", "--prompt", "a fox", "--out", str(out), "--json"), 2, "INVALID_ARGUMENTS"
    )["error"]
    assert "--out" in error["message"] and "Did you mean --output?" in error["message"]
    assert str(out) not in error["message"]
    assert not out.exists()


def test_several_outputs_are_numbered_and_a_failed_save_says_how_to_save(
    run: RunCli, tmp_path: Path
) -> None:
    with FakeImagesAPI(KEY).running() as fake:
        env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": fake.base_url}
        two = ["--model", "openai.gpt-image-2", "--model-parameters-json", json.dumps({"n": 2})]
        out = tmp_path / "pair.png"
        made = run("create", "--prompt", "two foxes", *two, "--output", str(out), "--json", env=env)
        data = expect(made, 0)["data"]
        assert_saved(data, tmp_path / "pair-1.png", tmp_path / "pair-2.png")
        assert not out.exists()

        # The second name is taken meanwhile: the first is saved, the error says
        # which asset was not and the command that saves it (no new job).
        taken = tmp_path / "again-2.png"
        taken.write_bytes(b"keep")
        again = tmp_path / "again.png"
        failed = run(
            "create", "--prompt", "two foxes", *two, "--output", str(again), "--json", env=env
        )
        error = expect(failed, 9, "OUTPUT_EXISTS")["error"]
    assert taken.read_bytes() == b"keep"
    details = error["details"]
    assert [record["path"] for record in details["saved"]] == [str(tmp_path / "again-1.png")]
    assert error["recovery"]["suggested_command"] == (
        f"image-skill assets get {details['asset_id']} --output {taken} --overwrite --json"
    )
    assert "not saved" in error["message"] and details["job_id"] in error["message"]
    saved = expect(
        run("assets", "get", details["asset_id"], "--output", str(taken), "--overwrite", "--json"),
        0,
    )["data"]["output"]
    assert sha256(taken.read_bytes()) == saved["sha256"]


@pytest.mark.slow
def test_against_a_server_and_refused_over_the_bridge(
    server: Server, run: RunCli, tmp_path: Path
) -> None:
    agent = cli_sign_up(run, server.base_url)
    out = tmp_path / "kite.png"
    created = expect(run("create", "--prompt", "a red kite", "--output", str(out), "--json"), 0)
    assert_saved(created["data"], out)
    asset_id = created["data"]["assets"][0]["asset_id"]
    edited = tmp_path / "kite-edit.png"
    data = expect(
        run("edit", "--input", asset_id, "--prompt", "mirror", "--output", str(edited), "--json"),
        0,
    )["data"]
    assert_saved(data, edited)

    # Over POST /v1/cli the path would be on the server's machine: refused, nothing run.
    before = job_ids(run)
    argv = ["create", "--prompt", "a kite", "--output", "/tmp/x.png"]
    status, _headers, body = http_call(
        server, "POST", "/v1/cli", {"argv": argv}, agent.token, timeout=30
    )
    envelope = json.loads(body)
    assert status >= 400 and envelope["ok"] is False, envelope
    assert "--output" in envelope["error"]["message"]
    assert job_ids(run) == before


@pytest.mark.slow
def test_a_job_followed_after_the_services_wait_limit_is_saved_too(
    run: RunCli, tmp_path: Path
) -> None:
    # The server stops waiting after 0.3 s (202); the CLI follows the job to the
    # end and saves the output from the finished job's view.
    env = plugin_env(tmp_path / "calls.log", test_slow_seconds=2)
    env["IMAGE_SKILL_CREATE_WAIT_SECONDS"] = "0.3"
    with (
        blank_database("sqlite", tmp_path) as url,
        running_server(url, tmp_path, extra_env=env) as server,
    ):
        cli_sign_up(run, server.base_url)
        out = tmp_path / "slow.png"
        made = run(
            "create",
            "--prompt",
            "a slow fox",
            "--model",
            "test.slow",
            "--output",
            str(out),
            "--json",
        )
        data = expect(made, 0)["data"]
    job = data["job"]  # the followed job's view, not a create answer
    assert job["status"] == "completed"
    (asset,) = job["assets"]
    assert asset["saved_to"] == str(out)
    assert data["saved"][0]["sha256"] == asset["sha256"] == sha256(out.read_bytes())
