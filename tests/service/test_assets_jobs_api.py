"""Asset metadata, media serving, jobs and crash recovery through the API, on both databases."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session as SyncSession

from image_skill.contract.envelope import EXIT_CODE_HEADER
from image_skill.contract.ids import new_id, utc_now
from image_skill.service.db.models import CreditLedgerEntry, Job
from tests.support.agents import Agent, sign_up
from tests.support.apps import started_app
from tests.support.envelopes import check_error, ok
from tests.support.images import png
from tests.support.ledger import ledger_rows

ISO_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


@pytest.fixture
def agent(api: TestClient) -> Agent:
    return sign_up(api)


@pytest.fixture
def created(agent: Agent) -> dict[str, Any]:
    """A completed create of local.sketch."""
    response = agent.create(model="local.sketch", model_parameters={"long_edge": 64})
    data = ok(response)
    data["trace_id"] = response.json()["trace_id"]
    return data


def not_found(response: Any) -> None:
    check_error(response, "NOT_FOUND", 1)


# --- asset metadata ----------------------------------------------------------------------


def test_show_asset(api: TestClient, agent: Agent) -> None:
    source = png(30, 20)
    uploaded = ok(agent.upload(source))["asset"]
    data = ok(agent.get(f"/v1/assets/{uploaded['asset_id']}"), 200)
    asset = data["asset"]
    assert asset["asset_id"] == uploaded["asset_id"]
    assert (asset["width"], asset["height"]) == (30, 20)
    assert asset["content_length"] == len(source)
    assert asset["sha256"] == hashlib.sha256(source).hexdigest()
    assert asset["job_id"] == uploaded["job_id"]
    signed = rf"http://testserver/a/{asset['asset_id']}\.png\?sig=[A-Za-z0-9_-]{{22}}"
    assert re.fullmatch(signed, asset["url"])
    assert ISO_Z.fullmatch(asset["created_at"])
    job = ok(agent.get(f"/v1/jobs/{asset['job_id']}"), 200)["job"]
    assert job["operation"] == "upload"
    assert [a["asset_id"] for a in job["assets"]] == [asset["asset_id"]]


def test_other_organizations_see_nothing(
    api: TestClient, agent: Agent, created: dict[str, Any]
) -> None:
    stranger = sign_up(api, "stranger@example.com", "stranger-bot")
    asset_id = created["assets"][0]["asset_id"]
    not_found(stranger.get(f"/v1/assets/{asset_id}"))
    not_found(stranger.get(f"/v1/jobs/{created['job_id']}"))
    assert ok(stranger.get("/v1/jobs"), 200)["jobs"] == []
    for bad in ("image_doesnotexist", "not-an-id", "job_doesnotexist"):
        not_found(agent.get(f"/v1/assets/{bad}"))
        not_found(agent.get(f"/v1/jobs/{bad}"))
    # The owner still sees both.
    ok(agent.get(f"/v1/assets/{asset_id}"), 200)
    ok(agent.get(f"/v1/jobs/{created['job_id']}"), 200)


# --- media -------------------------------------------------------------------------------


def test_media_route(api: TestClient, created: dict[str, Any]) -> None:
    asset = created["assets"][0]
    url = asset["url"]
    assert "Authorization" not in api.headers
    response = api.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-length"] == str(asset["content_length"])
    assert hashlib.sha256(response.content).hexdigest() == asset["sha256"]
    etag = response.headers["etag"]
    assert etag == f'"{asset["sha256"]}"'
    assert "immutable" in response.headers["cache-control"]
    assert response.headers["x-content-type-options"] == "nosniff"

    for condition in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        revalidated = api.get(url, headers={"If-None-Match": condition})
        assert revalidated.status_code == 304, condition
        assert revalidated.content == b""
        assert revalidated.headers["etag"] == etag
    assert api.get(url, headers={"If-None-Match": '"stale"'}).status_code == 200

    head = api.head(url)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(asset["content_length"])
    assert head.headers["content-type"] == "image/png"
    assert head.headers["etag"] == etag


def test_media_unknown_is_a_404_envelope(api: TestClient, created: dict[str, Any]) -> None:
    asset_id = created["assets"][0]["asset_id"]
    for path in (
        "/a/image_doesnotexist.png",
        f"/a/{asset_id}.jpg",
        f"/a/{asset_id}",
        "/a/nonsense.png",
        f"/a/{asset_id}.png.png",
    ):
        response = api.get(path)
        assert response.status_code == 404, path
        assert response.headers[EXIT_CODE_HEADER] == "1"
        assert response.json()["error"]["code"] == "NOT_FOUND"
        assert api.head(path).status_code == 404, path


# --- jobs --------------------------------------------------------------------------------


def test_show_job(agent: Agent, created: dict[str, Any]) -> None:
    job = ok(agent.get(f"/v1/jobs/{created['job_id']}"), 200)["job"]
    assert job["job_id"] == created["job_id"]
    assert job["status"] == "completed"
    assert job["terminal"] is True
    assert job["operation"] == "create"
    assert job["capability"] == created["capability"]
    assert job["model_id"] == "local.sketch"
    assert job["trace_id"] == created["trace_id"]
    for moment in ("created_at", "started_at", "completed_at"):
        assert ISO_Z.fullmatch(job[moment]), moment
    assert job["cost"]["credits_reserved"] == job["cost"]["credits_debited"] == 1
    assert job["safety"] == {"status": "allowed"}
    assert job["error"] is None
    assert [a["asset_id"] for a in job["assets"]] == [a["asset_id"] for a in created["assets"]]
    assert "prompt" not in job


def test_list_jobs_paginates_newest_first(database_url: str, tmp_path: Path) -> None:
    with started_app(database_url, tmp_path / "home", daily_job_cap_unclaimed=10) as client:
        agent = sign_up(client)
        created = [
            ok(agent.create(model="local.sketch", model_parameters={"long_edge": 64, "seed": n}))[
                "job_id"
            ]
            for n in range(5)
        ]
        pages: list[list[str]] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 2}
            if cursor:
                params["cursor"] = cursor
            data = ok(agent.get("/v1/jobs", params=params), 200)
            pages.append([job["job_id"] for job in data["jobs"]])
            cursor = data["next_cursor"]
            if cursor is None:
                break
            assert len(pages) < 10
        assert [len(page) for page in pages] == [2, 2, 1]
        seen = [job_id for page in pages for job_id in page]
        assert seen == list(reversed(created))
        assert len(set(seen)) == 5


# --- crash recovery ----------------------------------------------------------------------


def _running_job(db: Engine, agent: Agent, *, lease_in: timedelta, credits: int = 4) -> str:
    """Insert what a crashed process leaves behind: a running job and its reservation."""
    now = utc_now()
    job_id = new_id("job")
    with SyncSession(db) as session, session.begin():
        session.add(
            Job(
                id=job_id,
                organization_id=agent.organization_id,
                actor_id=agent.actor_id,
                operation="create",
                status="running",
                capability_id="is.image.generate.preview.v1",
                model_id="local.sketch",
                provider="local",
                trace_id="trace_0000000000000000",
                credits_reserved=credits,
                credits_debited=0,
                safety_status="allowed",
                worker_id="crashed-worker",
                lease_expires_at=now + lease_in,
                created_at=now - timedelta(minutes=10),
                started_at=now - timedelta(minutes=10),
                updated_at=now - timedelta(minutes=10),
            )
        )
        session.flush()
        session.add(
            CreditLedgerEntry(
                id=new_id("credit_event"),
                organization_id=agent.organization_id,
                actor_id=agent.actor_id,
                kind="reservation",
                amount=-credits,
                reason="job_reservation",
                job_id=job_id,
                idempotency_scope=f"reserve:{job_id}",
                created_at=now - timedelta(minutes=10),
            )
        )
    return job_id


def test_crash_recovery_fails_expired_jobs_once(
    database_url: str, tmp_path: Path, db: Engine
) -> None:
    home = tmp_path / "home"
    with started_app(database_url, home) as client:
        agent = sign_up(client)
    stale = _running_job(db, agent, lease_in=timedelta(minutes=-1))
    live = _running_job(db, agent, lease_in=timedelta(hours=1))

    for _restart in range(2):
        with started_app(database_url, home) as client:
            agent.client = client
            job = ok(agent.get(f"/v1/jobs/{stale}"), 200)["job"]
            assert job["status"] == "failed"
            assert job["error"]["code"] == "JOB_INTERRUPTED"
            assert job["cost"]["credits_debited"] == 0
            running = ok(agent.get(f"/v1/jobs/{live}"), 200)["job"]
            assert running["status"] == "running"
            assert running["error"] is None
            quota = agent.quota()
            assert quota["credits"]["balance"] == 10 - 4  # only the live job's hold remains
            assert quota["credits"]["reserved_in_flight"] == 4
        assert sorted((row.kind, row.amount) for row in ledger_rows(db, stale)) == [
            ("release", 4),
            ("reservation", -4),
        ]
        assert [(row.kind, row.amount) for row in ledger_rows(db, live)] == [("reservation", -4)]
