"""The service on a real SeaweedFS bucket: outputs and uploads stored there, media served
through the service (proxy) or by redirect to a presigned URL, the signed-URL rules on
top, spooled outputs repaired into S3 once it is back, a clear refusal to start on a
bucket that is not there, and a real ``image-skill serve`` + CLI download on S3."""

from __future__ import annotations

import hashlib
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import pytest

from image_skill.service.jobs.repair import repair_spooled_jobs
from image_skill.service.storage.base import StoreError, content_key
from image_skill.service.storage.s3 import S3AssetStore, S3Location
from tests.support.agents import Agent, cli_sign_up, sign_up
from tests.support.apps import started_app, stored_files
from tests.support.cli import RunCli, checked, expect
from tests.support.databases import blank_database
from tests.support.envelopes import check_error, ok
from tests.support.images import png
from tests.support.seaweed import ACCESS_KEY, REGION, SECRET_KEY, Seaweed, switchable_proxy
from tests.support.servers import running_server


def bucket_bytes(seaweed: Seaweed, bucket: str, sha256: str, extension: str = "png") -> bytes:
    """An object read straight from the bucket, by its content key."""
    store = S3AssetStore(
        S3Location(
            bucket=bucket,
            endpoint_url=seaweed.endpoint_url,
            region=REGION,
            access_key_id=ACCESS_KEY,
            secret_access_key=SECRET_KEY,
        )
    )

    async def read() -> bytes:
        return await store.get(content_key(sha256, extension))

    return anyio.run(read)


def created_jobs(agent: Agent) -> list[dict[str, Any]]:
    """The agent's create jobs (uploads are jobs too)."""
    jobs: list[dict[str, Any]] = ok(agent.get("/v1/jobs"), 200)["jobs"]
    return [job for job in jobs if job["operation"] == "create"]


def bare(url: str) -> str:
    return url.split("?", 1)[0]


def test_outputs_and_uploads_live_in_s3_and_are_proxied(
    database_url: str, tmp_path: Path, seaweed: Seaweed
) -> None:
    bucket = seaweed.bucket()
    home = tmp_path / "home"
    with started_app(database_url, home, **seaweed.settings(bucket)) as client:
        agent = sign_up(client)
        stranger = sign_up(client, "stranger@example.com", "stranger-bot")
        created = ok(agent.create(model="local.sketch", model_parameters={"long_edge": 64}))
        [output] = created["assets"]
        upload = ok(agent.upload(png(33, 21)))["asset"]
        for asset in (output, upload):
            stored = bucket_bytes(seaweed, bucket, asset["sha256"])
            assert hashlib.sha256(stored).hexdigest() == asset["sha256"]
            assert "?sig=" in asset["url"]
            response = client.get(asset["url"])
            assert response.status_code == 200
            assert response.content == stored
            assert response.headers["content-type"] == "image/png"
            assert response.headers["content-length"] == str(len(stored))
            assert response.headers["etag"] == f'"{asset["sha256"]}"'
            assert "immutable" in response.headers["cache-control"]
            head = client.head(asset["url"])
            assert head.status_code == 200 and head.content == b""
            # The signed-URL rules hold on S3 too.
            check_error(client.get(bare(asset["url"])), "NOT_FOUND", 1)
            check_error(client.get(bare(asset["url"]), headers=stranger.headers), "NOT_FOUND", 1)
            assert client.get(bare(asset["url"]), headers=agent.headers).content == stored
        # Nothing went to the local disk; the bucket holds exactly the two objects.
        assert stored_files(home) == set()
        # Editing an uploaded input reads it back from S3.
        edited = ok(
            agent.edit(
                model="local.transform", input_asset_id=upload["asset_id"], prompt="grayscale"
            )
        )
        [result] = edited["assets"]
        assert client.get(result["url"]).status_code == 200


def test_redirect_sends_a_get_to_a_short_lived_presigned_url(
    tmp_path: Path, seaweed: Seaweed
) -> None:
    bucket = seaweed.bucket()
    overrides = seaweed.settings(bucket) | {
        "media_delivery": "redirect",
        "media_presign_seconds": 90,
    }
    with (
        blank_database("sqlite", tmp_path) as database_url,
        started_app(database_url, tmp_path / "home", **overrides) as client,
    ):
        agent = sign_up(client)
        [asset] = ok(agent.create(model="local.sketch", model_parameters={"long_edge": 64}))[
            "assets"
        ]
        response = client.get(asset["url"], follow_redirects=False)
        assert response.status_code == 302
        assert response.headers["cache-control"] == "no-store"
        location = response.headers["location"]
        assert location.startswith(f"{seaweed.endpoint_url}/{bucket}/objects/")
        assert "X-Amz-Expires=90" in location and SECRET_KEY not in location
        # The client follows it to SeaweedFS itself, without credentials.
        with urllib.request.urlopen(location, timeout=10) as fetched:
            body = fetched.read()
            assert fetched.headers["content-type"] == "image/png"
            assert "immutable" in fetched.headers["cache-control"]
        assert hashlib.sha256(body).hexdigest() == asset["sha256"]
        # HEAD and revalidation are answered by the service; strangers get no redirect.
        head = client.head(asset["url"], follow_redirects=False)
        assert head.status_code == 200
        assert head.headers["content-length"] == str(asset["content_length"])
        etag = head.headers["etag"]
        revalidated = client.get(asset["url"], headers={"If-None-Match": etag})
        assert revalidated.status_code == 304
        unsigned = client.get(bare(asset["url"]), follow_redirects=False)
        check_error(unsigned, "NOT_FOUND", 1)
        assert "location" not in unsigned.headers


def test_spooled_output_is_repaired_into_s3_once_it_is_back(
    tmp_path: Path, seaweed: Seaweed, counting_plugin: ModuleType
) -> None:
    bucket = seaweed.bucket()
    home = tmp_path / "home"
    with (
        switchable_proxy(seaweed.endpoint_url) as proxy,
        blank_database("sqlite", tmp_path) as database_url,
        started_app(
            database_url, home, **seaweed.settings(bucket, endpoint_url=proxy.url)
        ) as client,
    ):
        agent = sign_up(client)
        before = ok(agent.upload(png(10, 10)))["asset"]
        proxy.down()
        # Media of a stored asset: a retryable envelope naming nothing of the bucket.
        for delivery in (client.get(before["url"]), client.get(before["url"])):
            error = check_error(delivery, "ASSET_DOWNLOAD_FAILED", 7)
            assert delivery.status_code == 502 and error["retryable"] is True
            assert bucket not in delivery.text and "objects/" not in delivery.text
        assert client.head(before["url"]).status_code == 200  # metadata needs no S3
        response = agent.create(key="k-s3-down", model="test.counting")
        check_error(response, "ARTIFACT_STORAGE_WRITE_FAILED", 9)
        assert bucket not in response.text and "127.0.0.1" not in response.text
        [job] = created_jobs(agent)
        assert job["status"] == "failed" and job["error"]["repairable"] is True
        [spooled] = list((home / "spool" / job["job_id"]).iterdir())
        spooled_bytes = spooled.read_bytes()

        store = client.app.state.store  # type: ignore[attr-defined]
        engine = client.app.state.engine  # type: ignore[attr-defined]
        assert client.portal is not None
        still = client.portal.call(repair_spooled_jobs, engine, store, home, None)
        assert still["store_still_failing"] == 1 and still["repaired"] == 0

        proxy.restore()
        done = client.portal.call(repair_spooled_jobs, engine, store, home, job["job_id"])
        assert done["jobs"] == [{"job_id": job["job_id"], "outcome": "repaired"}]
        [repaired] = created_jobs(agent)
        assert repaired["status"] == "completed"
        [asset] = repaired["assets"]
        assert asset["sha256"] == hashlib.sha256(spooled_bytes).hexdigest()
        assert bucket_bytes(seaweed, bucket, asset["sha256"]) == spooled_bytes
        assert client.get(asset["url"]).content == spooled_bytes
        assert client.get(before["url"]).status_code == 200
        assert repaired["cost"]["credits_debited"] == 0
        assert counting_plugin.calls() == 1
        assert not (home / "spool" / job["job_id"]).exists()


def test_the_service_refuses_to_start_without_its_bucket(tmp_path: Path, seaweed: Seaweed) -> None:
    with blank_database("sqlite", tmp_path) as database_url:
        missing = seaweed.settings("no-such-bucket-here")
        with (
            pytest.raises(StoreError) as refused,
            started_app(database_url, tmp_path / "home", **missing),
        ):
            pass
    assert "IMAGE_SKILL_S3_BUCKET" in str(refused.value)
    assert "no-such-bucket-here" not in str(refused.value)


@pytest.mark.slow
def test_a_real_server_on_s3_serves_the_cli_download_by_redirect(
    tmp_path: Path, seaweed: Seaweed, cli: RunCli
) -> None:
    run = checked(cli)
    bucket = seaweed.bucket()
    env = seaweed.env(bucket)
    env["IMAGE_SKILL_MEDIA_DELIVERY"] = "redirect"
    with (
        blank_database("sqlite", tmp_path) as database_url,
        running_server(database_url, tmp_path, extra_env=env) as server,
    ):
        cli_sign_up(run, server.base_url)
        created = expect(run("create", "--prompt", "a lighthouse in fog", "--json"), 0)
        [asset] = created["data"]["assets"]
        assert asset["url"].startswith(f"{server.base_url}/a/{asset['asset_id']}.png?sig=")
        target = tmp_path / "download.png"
        got = expect(run("assets", "get", asset["url"], "--output", str(target), "--json"), 0)
        assert got["ok"] is True
        body = target.read_bytes()
        assert hashlib.sha256(body).hexdigest() == asset["sha256"]
        assert bucket_bytes(seaweed, bucket, asset["sha256"]) == body
        # The 0.1.0 client's way: a plain GET of asset.url, no token, redirects followed.
        with urllib.request.urlopen(asset["url"], timeout=10) as response:
            assert response.read() == body
        assert SECRET_KEY not in server.log()
