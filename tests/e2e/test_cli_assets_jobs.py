"""``assets show|get`` and ``jobs show|list|wait`` through the real CLI.

Against ``image-skill serve`` on SQLite and PostgreSQL, and ``assets get`` in
embedded mode. A job that never finishes is planted straight into the server's
database; a failed job comes from the counting provider plugin's ``test.failing``.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from image_skill.contract.ids import new_id, new_trace_id, utc_now
from image_skill.service.db.models import Job
from image_skill.service.settings import to_async_url, to_sync_url
from tests.support.agents import cli_sign_up
from tests.support.cli import RunCli, checked, expect, job_ids
from tests.support.images import png_bytes, sha256
from tests.support.plugins import plugin_env, provider_calls
from tests.support.servers import Server, running_server
from tests.support.web import fetch


@pytest.fixture
def run(cli: RunCli) -> RunCli:
    return checked(cli)


def test_assets_show_get_and_other_organizations(
    server: Server, run: RunCli, tmp_path: Path
) -> None:
    owner = cli_sign_up(run, server.base_url)
    created = expect(run("create", "--prompt", "a red kite", "--json"), 0)["data"]
    (asset,) = created["assets"]
    asset_id, url = asset["asset_id"], asset["url"]

    shown = expect(run("assets", "show", asset_id, "--json"), 0)
    assert shown["command"] == "image-skill assets show"
    data = shown["data"]
    assert data["request"] == {"reference": asset_id, "reference_type": "asset_id"}
    assert data["asset"] == asset
    by_url = expect(run("assets", "show", url, "--json"), 0)["data"]
    assert by_url["request"] == {"reference": url, "reference_type": "url"}
    assert by_url["asset"] == asset

    external = expect(
        run("assets", "show", "https://example.com/x.png", "--json"), 2, "INVALID_ARGUMENTS"
    )
    assert "upload" in external["error"]["recovery"]["suggested_command"]
    assert "example.com" not in external["error"]["message"]

    # get: verified download, refuses to overwrite, then overwrites when told to.
    out = tmp_path / "out" / "kite.png"
    got = expect(run("assets", "get", asset_id, "--output", str(out), "--json"), 0)["data"]
    assert got["output"] == {
        "path": str(out),
        "bytes": asset["content_length"],
        "sha256": asset["sha256"],
    }
    assert sha256(out.read_bytes()) == asset["sha256"]
    expect(
        run("assets", "get", asset_id, "--output", str(out.parent), "--json"),
        2,
        "INVALID_ARGUMENTS",
    )
    out.write_bytes(b"mine, keep me")
    exists = expect(
        run("assets", "get", asset_id, "--output", str(out), "--json"), 9, "OUTPUT_EXISTS"
    )
    assert exists["error"]["recovery"]["required_flag"] == "--overwrite"
    assert out.read_bytes() == b"mine, keep me"
    expect(run("assets", "get", url, "--output", str(out), "--overwrite", "--json"), 0)
    assert sha256(out.read_bytes()) == asset["sha256"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["kite.png"]  # no temp files left

    # Another organization sees nothing of ours (but the URL itself stays a capability).
    other = cli_sign_up(run, server.base_url, email="other@example.com", name="other", save=False)
    assert other.actor["organization_id"] != owner.actor["organization_id"]
    as_other = other.env
    for reference in (asset_id, url):
        expect(run("assets", "show", reference, "--json", env=as_other), 1, "NOT_FOUND")
    stolen = tmp_path / "stolen.png"
    expect(
        run("assets", "get", asset_id, "--output", str(stolen), "--json", env=as_other),
        1,
        "NOT_FOUND",
    )
    assert not stolen.exists()
    expect(run("jobs", "show", created["job_id"], "--json", env=as_other), 1, "NOT_FOUND")
    assert job_ids(run, env=as_other) == []
    assert sha256(fetch(url)) == asset["sha256"]


def test_assets_get_embedded(run: RunCli, tmp_path: Path) -> None:
    created = expect(run("create", "--prompt", "a blue kite", "--json"), 0)["data"]
    (asset,) = created["assets"]
    out = tmp_path / "kite.png"
    got = expect(run("assets", "get", asset["url"], "--output", str(out), "--json"), 0)["data"]
    assert got["output"]["sha256"] == asset["sha256"] == sha256(out.read_bytes())
    assert got["asset"]["asset_id"] == asset["asset_id"]


def test_jobs_show_list_paging_and_wait_completed(
    server: Server, run: RunCli, tmp_path: Path
) -> None:
    cli_sign_up(run, server.base_url)
    created = expect(run("create", "--prompt", "a kite", "--json"), 0)["data"]
    uploads = []
    for index, size in enumerate((16, 24)):  # distinct bytes: identical ones are deduplicated
        image = tmp_path / f"in-{index}.png"
        image.write_bytes(png_bytes(size, size))
        uploads.append(expect(run("upload", str(image), "--json"), 0)["data"])
    expected = [u["asset"]["job_id"] for u in reversed(uploads)] + [created["job_id"]]

    shown = expect(run("jobs", "show", created["job_id"], "--json"), 0)
    job = shown["data"]["job"]
    assert shown["command"] == "image-skill jobs show"
    assert job["job_id"] == created["job_id"] and job["status"] == "completed"
    assert job["terminal"] is True and job["operation"] == "create"
    assert job["assets"] == created["assets"] and job["error"] is None
    assert job["cost"]["credits_debited"] == 1 and job["model_id"] == "local.sketch"
    expect(run("jobs", "show", "job_doesnotexist", "--json"), 1, "NOT_FOUND")

    # Paging one at a time visits every job once, newest first.
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(5):
        extra = ("--cursor", cursor) if cursor else ()
        page = expect(run("jobs", "list", "--limit", "1", *extra, "--json"), 0)["data"]
        assert len(page["jobs"]) == 1
        seen.append(page["jobs"][0]["job_id"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == expected == job_ids(run)
    expect(run("jobs", "list", "--limit", "0", "--json"), 2, "INVALID_ARGUMENTS")

    # A completed job: wait answers at once, even with a long poll interval.
    started = time.monotonic()
    waited = run(
        "jobs",
        "wait",
        created["job_id"],
        "--poll-interval-ms",
        "20000",
        "--timeout-ms",
        "60000",
        "--json",
    )
    assert expect(waited, 0)["data"]["job"]["status"] == "completed"
    assert time.monotonic() - started < 15


def plant_running_job(database_url: str, actor: dict[str, str]) -> str:
    """A job row another (live) worker holds: running, with a lease far in the future."""
    engine = create_engine(to_sync_url(to_async_url(database_url)))
    now = utc_now()
    job_id = new_id("job")
    try:
        with Session(engine) as session, session.begin():
            session.add(
                Job(
                    id=job_id,
                    organization_id=actor["organization_id"],
                    actor_id=actor["actor_id"],
                    operation="create",
                    status="running",
                    capability_id="is.image.generate.preview.v1",
                    model_id="local.sketch",
                    parameters={},
                    trace_id=new_trace_id(),
                    credits_reserved=0,
                    credits_debited=0,
                    worker_id="elsewhere",
                    lease_expires_at=now + timedelta(days=1),
                    created_at=now,
                    started_at=now,
                    updated_at=now,
                )
            )
    finally:
        engine.dispose()
    return job_id


def test_jobs_wait_timeout_and_failed_job(database_url: str, tmp_path: Path, run: RunCli) -> None:
    calls = tmp_path / "provider-calls.log"
    with running_server(database_url, tmp_path, plugin_env(calls)) as server:
        agent = cli_sign_up(run, server.base_url)

        # A job that stays running: a deterministic TIMEOUT with the command to resume.
        running = plant_running_job(database_url, agent.actor)
        shown = expect(run("jobs", "show", running, "--json"), 0)["data"]["job"]
        assert shown["status"] == "running" and shown["terminal"] is False
        started = time.monotonic()
        timed_out = run(
            "jobs", "wait", running, "--timeout-ms", "300", "--poll-interval-ms", "50", "--json"
        )
        elapsed = time.monotonic() - started
        error = expect(timed_out, 8, "TIMEOUT")["error"]
        assert error["retryable"] is True and error["details"]["status"] == "running"
        suggested = error["recovery"]["suggested_command"]
        assert suggested.startswith(f"image-skill jobs wait {running} ")
        assert "--timeout-ms 300" in suggested
        assert 0.3 <= elapsed < 20

        # A job the provider failed: wait returns it, with the error's exit code.
        failed = expect(
            run("create", "--prompt", "p", "--model", "test.failing", "--json"),
            7,
            "PROVIDER_FAILED",
        )
        assert failed["error"]["retryable"] is True
        (failed_id,) = job_ids(run, "--status", "failed")
        assert provider_calls(calls) == [("test.failing", "create", failed_id)]
        waited = run("jobs", "wait", failed_id, "--timeout-ms", "1000", "--json")
        assert waited.exit_code == 7, waited.stdout
        job = waited.envelope["data"]["job"]
        assert job["status"] == "failed" and job["terminal"] is True
        assert job["error"]["code"] == "PROVIDER_FAILED" and job["assets"] == []
        assert job["cost"]["credits_debited"] == 0
        assert job_ids(run, "--status", "running") == [running]
        quota = expect(run("usage", "quota", "--json"), 0)["data"]
        assert quota["credits"]["balance"] == 10  # the failed job's reservation was released
