"""create and edit through the API, on both databases, with the counting test provider.

Every refusal is checked three ways: the error code and exit header, the
provider never called, and the jobs / assets / ledger / idempotency tables
unchanged.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import threading
import urllib.error
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import Engine

from image_skill.contract.errors import ImageSkillError
from image_skill.providers.transform_grammar import GRAMMAR_SUMMARY
from image_skill.service.jobs.repair import repair_spooled_jobs
from image_skill.service.quota.repository import REFUSAL_CODES
from image_skill.service.storage.memory import MemoryAssetStore
from tests.support.agents import Agent, sign_up
from tests.support.apps import started_app
from tests.support.databases import row_counts
from tests.support.envelopes import check_error, ok
from tests.support.images import sniff
from tests.support.ledger import ledger_rows, ledger_sum
from tests.support.plugins import CALL_LOG_ENV, CREATE_CAPABILITY, PLUGIN, REPO_ROOT
from tests.support.servers import start_server, stop_server

COUNTING_CREDITS = 8  # $0.04 x markup 2.0 / $0.01
BLOCKED_PROMPT = "Please print your API key on a poster"


# Every test here runs with the counting provider registered.
pytestmark = pytest.mark.usefixtures("counting_plugin")


@pytest.fixture
def agent(api: TestClient) -> Agent:
    return sign_up(api)


def fetch(client: TestClient, url: str) -> bytes:
    """The media bytes at ``url`` (no Authorization header)."""
    response = client.get(url)
    assert response.status_code == 200, response.text
    return response.content


def jobs_of(agent: Agent) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = ok(agent.get("/v1/jobs", params={"limit": 100}), 200)["jobs"]
    return jobs


# --- success -----------------------------------------------------------------------------


def test_create_returns_an_owned_fetchable_asset(
    agent: Agent, counting_plugin: ModuleType, db: Engine
) -> None:
    data = ok(agent.create(model="test.counting", model_parameters={"seed": 7}))

    assert re.fullmatch(r"job_[0-9a-z]{26}", data["job_id"])
    assert data["status"] == "completed"
    assert data["capability"]["id"] == CREATE_CAPABILITY
    assert data["model_id"] == "test.counting"
    [asset] = data["assets"]
    assert re.fullmatch(r"image_[A-Za-z0-9._-]{1,128}", asset["asset_id"])
    signed = rf"http://testserver/a/{asset['asset_id']}\.png\?sig=[A-Za-z0-9_-]{{22}}"
    assert re.fullmatch(signed, asset["url"])
    assert asset["mime_type"] == "image/png"
    assert (asset["width"], asset["height"]) == (64, 64)
    assert asset["job_id"] == data["job_id"]
    body = fetch(agent.client, asset["url"])
    assert hashlib.sha256(body).hexdigest() == asset["sha256"]
    assert len(body) == asset["content_length"]
    assert sniff(body) == "png"

    pricing = data["cost"]["credit_pricing"]
    assert pricing == {
        "credit_unit_usd": 0.01,
        "credits_required": COUNTING_CREDITS,
        "estimated_provider_cost_usd": 0.04,
        "estimated_revenue_usd": 0.08,
        "pricing_confidence": "known",
    }
    assert data["safety"]["status"] == "allowed"
    assert data["quota"]["credits_debited"] == COUNTING_CREDITS
    assert data["quota"]["balance_after"] == 10 - COUNTING_CREDITS
    assert counting_plugin.calls("test.counting") == 1

    # Reserve, then settle: the net movement of the job is exactly one debit.
    rows = ledger_rows(db, data["job_id"])
    assert sorted(row.kind for row in rows) == ["debit", "release", "reservation"]
    assert sum(row.amount for row in rows) == -COUNTING_CREDITS
    assert ledger_sum(db, agent.actor_id) == 10 - COUNTING_CREDITS
    assert agent.quota()["credits"]["reserved_in_flight"] == 0


def test_aspect_ratio_and_long_edge_are_honoured(agent: Agent) -> None:
    for ratio, size in (("16:9", (256, 144)), ("9:16", (144, 256))):
        data = ok(
            agent.create(
                model="local.sketch", aspect_ratio=ratio, model_parameters={"long_edge": 256}
            )
        )
        [asset] = data["assets"]
        assert (asset["width"], asset["height"]) == size
        assert data["resolved"]["aspect_ratio"] == ratio
        with Image.open(io.BytesIO(fetch(agent.client, asset["url"]))) as image:
            assert image.size == size


def test_output_format_is_honoured(agent: Agent) -> None:
    for fmt, mime, ext in (("webp", "image/webp", "webp"), ("jpeg", "image/jpeg", "jpg")):
        data = ok(
            agent.create(
                model="local.sketch", model_parameters={"long_edge": 64}, output={"format": fmt}
            )
        )
        [asset] = data["assets"]
        assert asset["mime_type"] == mime
        assert asset["url"].split("?sig=")[0].endswith(f".{ext}")
        body = fetch(agent.client, asset["url"])
        assert sniff(body) == fmt
        assert hashlib.sha256(body).hexdigest() == asset["sha256"]


# --- check order: the earliest problem wins, and nothing moves ---------------------------

REFUSALS: list[tuple[str, dict[str, Any], str, int]] = [
    (
        "unknown-model+bad-params",
        {"model": "no.such-model", "model_parameters": {"bogus": 1}},
        "MODEL_NOT_FOUND",
        2,
    ),
    (
        "bad-params+blocked-prompt",
        {"model": "test.counting", "model_parameters": {"seed": "x"}, "prompt": BLOCKED_PROMPT},
        "MODEL_PARAMETERS_INVALID",
        2,
    ),
    (
        "blocked-prompt+unknown-price",
        {"model": "test.unknown-price", "prompt": BLOCKED_PROMPT},
        "CONTENT_POLICY_DENIED",
        6,
    ),
    (
        "unknown-price-without-accept",
        {"model": "test.unknown-price", "max_usd": 0.0},
        "BUDGET_REQUIRES_CONFIRMATION",
        4,
    ),
    (
        "per-image-cap",
        {"model": "test.counting", "max_estimated_usd_per_image": 0.01},
        "BUDGET_CAP_EXCEEDED",
        4,
    ),
    (
        "max-usd",
        {"model": "test.counting", "max_usd": 0.01},
        "BUDGET_CAP_EXCEEDED",
        4,
    ),
    (
        "unknown-price-hold-over-balance",
        # 25 credits are held for an unknown cost; the free preview has 10.
        {"model": "test.unknown-price", "accept_unknown_cost": True},
        "INSUFFICIENT_CREDITS",
        5,
    ),
]


def test_the_earliest_problem_is_reported_and_nothing_moves(
    agent: Agent, counting_plugin: ModuleType, db: Engine
) -> None:
    before = row_counts(db)
    for case, body, code, exit_code in REFUSALS:
        _check_refusal(agent, counting_plugin, db, before, case, body, code, exit_code)


def _check_refusal(
    agent: Agent,
    counting_plugin: ModuleType,
    db: Engine,
    before: dict[str, int],
    case: str,
    body: dict[str, Any],
    code: str,
    exit_code: int,
) -> None:
    response = agent.create(**body)
    assert (response.json()["error"] or {}).get("code") == code, (case, response.text)
    error = check_error(response, code, exit_code)
    if code == "BUDGET_REQUIRES_CONFIRMATION":
        assert error["recovery"]["required_flag"] == "--accept-unknown-cost"
    if code == "BUDGET_CAP_EXCEEDED":
        field = "max_usd" if "max_usd" in body else "max_estimated_usd_per_image"
        assert error["details"]["field"] == field
    if code == "CONTENT_POLICY_DENIED":
        assert "api key" not in error["message"].lower()
    assert counting_plugin.calls() == 0, case
    if code in REFUSAL_CODES:
        # Kept as a never-started failed job (quota/refusals.py); no credits move.
        before["jobs"] += 1
        refused = ok(agent.get(f"/v1/jobs/{error['details']['refused_job_id']}"), 200)["job"]
        assert (refused["status"], refused["error"]["code"]) == ("failed", code), case
        assert refused["started_at"] is None and refused["cost"]["credits_reserved"] == 0
    assert row_counts(db) == before, case
    assert agent.quota()["credits"]["balance"] == 10, case


def test_insufficient_credits_after_spending(
    agent: Agent, counting_plugin: ModuleType, db: Engine
) -> None:
    ok(agent.create(model="test.counting"))
    before = row_counts(db)
    error = check_error(agent.create(model="test.counting"), "INSUFFICIENT_CREDITS", 5)
    refused_job_id = error["details"].pop("refused_job_id")
    assert error["details"] == {"credits_required": COUNTING_CREDITS, "balance": 2}
    assert counting_plugin.calls() == 1
    assert row_counts(db) == before | {"jobs": before["jobs"] + 1}
    assert agent.quota()["refusals"]["recent"][0]["job_id"] == refused_job_id


def test_invalid_model_parameters_name_the_field(
    agent: Agent, counting_plugin: ModuleType, db: Engine
) -> None:
    before = row_counts(db)
    cases = [
        ({"bogus": 1}, "model_parameters.bogus"),
        ({"seed": "seven"}, "model_parameters.seed"),
        ({"long_edge": 5}, "model_parameters.long_edge"),
        ({"style_strength": 0.5}, "model_parameters.style_strength"),  # planning-only
    ]
    for parameters, field in cases:
        error = check_error(
            agent.create(model="test.counting", model_parameters=parameters),
            "MODEL_PARAMETERS_INVALID",
            2,
        )
        assert error["details"]["field"] == field
        assert field in error["message"]
    assert counting_plugin.calls() == 0
    assert row_counts(db) == before


# --- dry run -----------------------------------------------------------------------------


def test_dry_run_plans_and_changes_nothing(
    agent: Agent, counting_plugin: ModuleType, db: Engine
) -> None:
    before = row_counts(db)
    data = ok(
        agent.create(
            key="dry-1",
            model="test.counting",
            aspect_ratio="16:9",
            model_parameters={"seed": 3},
            dry_run=True,
        ),
        200,
    )
    assert data["dry_run"] is True
    assert data["would_execute"] is True
    assert data["blocked_by"] == []
    assert data["model"]["model_id"] == "test.counting"
    assert data["resolved"]["aspect_ratio"] == "16:9"
    assert data["resolved"]["model_parameters"] == {"seed": 3}
    assert data["cost"]["credit_pricing"]["credits_required"] == COUNTING_CREDITS
    assert data["quota"]["outcome"] == "allowed"
    assert data["quota"]["balance"] == 10

    blocked = ok(agent.create(model="test.unknown-price", dry_run=True), 200)
    assert blocked["would_execute"] is False
    assert "BUDGET_REQUIRES_CONFIRMATION" in blocked["blocked_by"]

    broke = ok(
        agent.create(model="test.unknown-price", accept_unknown_cost=True, dry_run=True), 200
    )
    assert broke["blocked_by"] == ["INSUFFICIENT_CREDITS"]
    assert broke["quota"]["outcome"] == "refused"

    assert counting_plugin.calls() == 0
    assert row_counts(db) == before
    # The dry run's key was not consumed: a real call under it runs.
    ok(agent.create(key="dry-1", model="test.counting"))
    assert counting_plugin.calls() == 1


# --- quota of an unclaimed agent ---------------------------------------------------------


def test_unclaimed_daily_cap_and_failed_jobs_do_not_count(
    database_url: str, tmp_path: Path, counting_plugin: ModuleType, db: Engine
) -> None:
    with started_app(database_url, tmp_path / "home", pricing_markup=1.0) as client:
        agent = sign_up(client)
        check_error(agent.create(model="test.failing"), "PROVIDER_FAILED", 7)
        quota = agent.quota()
        assert quota["credits"]["balance"] == 10
        assert quota["credits"]["reserved_in_flight"] == 0
        assert quota["jobs"]["used_today"] == 0

        first = ok(agent.create(model="test.counting"))
        assert first["cost"]["credit_pricing"]["credits_required"] == 4  # $0.04 at markup 1
        ok(agent.create(model="test.counting"))
        assert counting_plugin.calls("test.counting") == 2
        quota = agent.quota()
        assert quota["credits"]["balance"] == 2
        assert quota["jobs"]["used_today"] == 2

        before = row_counts(db)
        error = check_error(agent.create(model="test.counting"), "DAILY_JOB_CAP_REACHED", 5)
        assert error["recovery"]["retry_after_seconds"] > 0
        assert counting_plugin.calls("test.counting") == 2
        assert row_counts(db) == before | {"jobs": before["jobs"] + 1}  # the refused attempt
        assert agent.quota()["refusals"]["today"] == 1


# --- idempotency -------------------------------------------------------------------------


def test_same_key_same_body_replays(agent: Agent, counting_plugin: ModuleType, db: Engine) -> None:
    first = agent.create(key="k-1", model="test.counting", model_parameters={"seed": 1})
    data = ok(first)
    after_first = row_counts(db)
    second = agent.create(key="k-1", model="test.counting", model_parameters={"seed": 1})
    replay = ok(second)
    assert replay["job_id"] == data["job_id"]
    assert replay["assets"] == data["assets"]
    assert any("Replayed" in warning for warning in second.json()["warnings"])
    assert not any("Replayed" in warning for warning in first.json()["warnings"])
    assert counting_plugin.calls() == 1
    assert row_counts(db) == after_first
    assert agent.quota()["credits"]["balance"] == 10 - COUNTING_CREDITS

    error = check_error(
        agent.create(key="k-1", model="test.counting", model_parameters={"seed": 2}),
        "IDEMPOTENCY_KEY_REUSED",
        2,
    )
    assert error["details"]["field"] == "idempotency_key"
    assert counting_plugin.calls() == 1
    assert row_counts(db) == after_first


def test_retryable_failure_forgets_the_key(
    agent: Agent, counting_plugin: ModuleType, db: Engine
) -> None:
    for attempt in (1, 2):
        check_error(agent.create(key="k-retry", model="test.failing"), "PROVIDER_FAILED", 7)
        assert counting_plugin.calls("test.failing") == attempt
    assert row_counts(db)["idempotency_records"] == 0


def test_final_failure_sticks_to_the_key(agent: Agent, counting_plugin: ModuleType) -> None:
    body = {"model": "test.failing", "model_parameters": {"mode": "refuse"}}
    for _ in range(2):
        check_error(agent.create(key="k-final", **body), "CONTENT_POLICY_DENIED", 6)
    assert counting_plugin.calls("test.failing") == 1


def test_concurrent_duplicates_run_once(database_url: str, tmp_path: Path) -> None:
    """Ten simultaneous requests with one key against a real server: one call, one job."""
    call_log = tmp_path / "server-calls.log"
    server = start_server(
        database_url,
        tmp_path,
        {
            "IMAGE_SKILL_PLUGINS": PLUGIN,
            "PYTHONPATH": str(REPO_ROOT),
            CALL_LOG_ENV: str(call_log),
            "IMAGE_SKILL_TOKEN_PEPPER": "concurrency-pepper",
        },
    )
    try:
        token = _post(
            server.base_url,
            "/v1/agent-signups",
            {
                "human_email": "race@example.com",
                "agent_name": "racer",
                "runtime": "pytest",
                "return_token": True,
            },
        )[1]["data"]["token"]
        body = {"prompt": "race", "model": "test.counting", "model_parameters": {"delay_ms": 400}}
        results: list[tuple[int, dict[str, Any]]] = []
        lock = threading.Lock()
        barrier = threading.Barrier(10)

        def fire() -> None:
            barrier.wait()
            outcome = _post(server.base_url, "/v1/create", body, token=token, key="race-key")
            with lock:
                results.append(outcome)

        threads = [threading.Thread(target=fire) for _ in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert len(results) == 10
        statuses = sorted(status for status, _ in results)
        assert all(status in (201, 202) for status in statuses), [
            (s, e["error"]) for s, e in results
        ]
        assert statuses.count(201) >= 1
        job_ids = {envelope["data"]["job_id"] for _, envelope in results}
        assert len(job_ids) == 1
        assert len(call_log.read_text().splitlines()) == 1
        listing = _get(server.base_url, "/v1/jobs?limit=100", token)
        assert [job["job_id"] for job in listing["data"]["jobs"]] == list(job_ids)
    finally:
        stop_server(server)


def _post(
    base: str, path: str, body: dict[str, Any], *, token: str | None = None, key: str | None = None
) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if key:
        headers["Idempotency-Key"] = key
    request = urllib.request.Request(
        base + path, data=json.dumps(body).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _get(base: str, path: str, token: str) -> dict[str, Any]:
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        value: dict[str, Any] = json.loads(response.read())
        return value


# --- provider failures -------------------------------------------------------------------


PROVIDER_FAILURES = [
    ("provider_failed", "PROVIDER_FAILED", 7),
    ("unavailable", "PROVIDER_UNAVAILABLE", 7),
    ("crash", "PROVIDER_FAILED", 7),
    ("slow", "PROVIDER_TIMEOUT", 8),
    ("refuse", "CONTENT_POLICY_DENIED", 6),
]


def test_provider_errors_fail_the_job_and_release_credits(
    database_url: str,
    tmp_path: Path,
    counting_plugin: ModuleType,
    db: Engine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="image_skill")
    with started_app(database_url, tmp_path / "home", provider_timeout_seconds=0.5) as client:
        agent = sign_up(client)
        for attempt, (mode, code, exit_code) in enumerate(PROVIDER_FAILURES, start=1):
            response = agent.create(model="test.failing", model_parameters={"mode": mode})
            error = check_error(response, code, exit_code)
            assert counting_plugin.calls("test.failing") == attempt
            for leaked in ("boom", "/srv", "provider.py", "sk-test", "Traceback", "RuntimeError"):
                assert leaked not in response.text, mode
            job = jobs_of(agent)[0]  # newest first
            assert job["status"] == "failed", mode
            assert job["error"]["code"] == code
            assert job["cost"]["credits_debited"] == 0
            assert job["safety"]["status"] == ("denied" if mode == "refuse" else "allowed")
            assert error["retryable"] is (mode != "refuse")
            quota = agent.quota()
            assert quota["credits"]["balance"] == 10, mode
            assert quota["credits"]["reserved_in_flight"] == 0, mode
            assert quota["jobs"]["used_today"] == 0, mode
            rows = ledger_rows(db, job["job_id"])
            assert sorted((row.kind, row.amount) for row in rows) == [
                ("release", COUNTING_CREDITS),
                ("reservation", -COUNTING_CREDITS),
            ], mode
        assert len(jobs_of(agent)) == len(PROVIDER_FAILURES)
    # The crash is logged for operators with its type and frames, never its message.
    assert "provider test.failing crashed" in caplog.text
    assert "builtins.RuntimeError: <message withheld>" in caplog.text
    for leaked in ("boom", "/srv/secret", "sk-test"):
        assert leaked not in caplog.text
        assert row_counts(db)["assets"] == 0


def test_unconfigured_model(agent: Agent, counting_plugin: ModuleType, db: Engine) -> None:
    before = row_counts(db)
    error = check_error(agent.create(model="test.unconfigured"), "MODEL_NOT_CONFIGURED", 4)
    assert "TEST_PROVIDER_KEY_THAT_IS_NOT_SET" in json.dumps(error)
    plan = ok(agent.create(model="test.unconfigured", dry_run=True), 200)
    assert plan["blocked_by"] == ["MODEL_NOT_CONFIGURED"]
    assert plan["would_execute"] is False
    assert plan["model"]["availability"]["configured"] is False
    assert counting_plugin.calls() == 0
    assert row_counts(db) == before


# --- storage failure ---------------------------------------------------------------------


def test_storage_failure_keeps_the_output_for_repair(
    database_url: str, tmp_path: Path, counting_plugin: ModuleType, db: Engine
) -> None:
    home = tmp_path / "home"
    store = MemoryAssetStore(fail_writes=True)
    with started_app(database_url, home, store=store) as client:
        agent = sign_up(client)
        response = agent.create(key="k-store", model="test.counting")
        error = check_error(response, "ARTIFACT_STORAGE_WRITE_FAILED", 9)
        assert error["retryable"] is False
        assert str(home) not in response.text
        [job] = jobs_of(agent)
        assert job["status"] == "failed"
        assert job["error"]["code"] == "ARTIFACT_STORAGE_WRITE_FAILED"
        assert job["error"]["repairable"] is True
        assert job["cost"]["credits_debited"] == 0
        spooled = list((home / "spool" / job["job_id"]).iterdir())
        assert len(spooled) == 1
        assert sniff(spooled[0].read_bytes()) == "png"
        assert agent.quota()["credits"]["balance"] == 10
        assert row_counts(db)["assets"] == 0
        assert store.objects == {}
        # Not retryable: the same key answers the same failure without a second call.
        check_error(
            agent.create(key="k-store", model="test.counting"), "ARTIFACT_STORAGE_WRITE_FAILED", 9
        )
        assert counting_plugin.calls() == 1

        # Repair while the store still fails changes nothing; once it works, the spooled
        # image becomes the job's output: no second provider call, no charge.
        engine = client.app.state.engine  # type: ignore[attr-defined]
        assert client.portal is not None
        still = client.portal.call(repair_spooled_jobs, engine, store, home, None)
        assert still["store_still_failing"] == 1 and still["repaired"] == 0
        assert jobs_of(agent)[0]["status"] == "failed"
        store.fail_writes = False
        spooled_bytes = spooled[0].read_bytes()
        done = client.portal.call(repair_spooled_jobs, engine, store, home, job["job_id"])
        assert done["jobs"] == [{"job_id": job["job_id"], "outcome": "repaired"}]
        [repaired] = jobs_of(agent)
        assert repaired["status"] == "completed" and repaired["error"] is None
        [asset] = repaired["assets"]
        assert asset["sha256"] == hashlib.sha256(spooled_bytes).hexdigest()
        # The asset alone: its gallery thumbnail is made on first view (assets/thumbnails.py).
        assert list(store.objects.values()) == [spooled_bytes]
        assert repaired["cost"]["credits_debited"] == 0
        assert agent.quota()["credits"]["balance"] == 10
        assert counting_plugin.calls() == 1
        assert not (home / "spool" / job["job_id"]).exists()
        events = client.get("/v1/activity", headers=agent.headers).json()["data"]["events"]
        completed = [e for e in events if e["type"] == "job.completed"]
        assert {e["status"] for e in completed} == {"failed", "completed"}
        # Nothing is left to repair; asking for this job again, or an unknown one, says so.
        assert client.portal.call(repair_spooled_jobs, engine, store, home, None)["jobs"] == []
        with pytest.raises(ImageSkillError) as conflict:
            client.portal.call(repair_spooled_jobs, engine, store, home, job["job_id"])
        assert conflict.value.code == "CONFLICT"
        with pytest.raises(ImageSkillError) as missing:
            client.portal.call(repair_spooled_jobs, engine, store, home, "job_unknown")
        assert missing.value.code == "NOT_FOUND"


# --- edit --------------------------------------------------------------------------------


def _uploaded(agent: Agent, width: int = 40, height: int = 24) -> dict[str, Any]:
    from tests.support.images import png

    asset: dict[str, Any] = ok(agent.upload(png(width, height)))["asset"]
    return asset


def test_edit_with_local_transform(agent: Agent) -> None:
    source = _uploaded(agent)
    data = ok(agent.edit(input_asset_id=source["asset_id"], prompt="rotate 90, grayscale"))
    assert data["operation"] == "edit"
    assert data["model_id"] == "local.transform"
    assert data["input_asset"]["asset_id"] == source["asset_id"]
    [asset] = data["assets"]
    assert asset["asset_id"] != source["asset_id"]
    assert (asset["width"], asset["height"]) == (24, 40)
    with Image.open(io.BytesIO(fetch(agent.client, asset["url"]))) as image:
        assert image.size == (24, 40)
        assert image.mode == "L"


def test_edit_instruction_not_understood(agent: Agent, db: Engine) -> None:
    source = _uploaded(agent)
    before = row_counts(db)
    prompt = "make the zebra sparkle like unicorn dust"
    error = check_error(
        agent.edit(input_asset_id=source["asset_id"], prompt=prompt), "INVALID_ARGUMENTS", 2
    )
    assert GRAMMAR_SUMMARY in error["message"]
    assert "zebra" not in error["message"] and "unicorn" not in error["message"]
    assert row_counts(db) == before


def test_edit_of_another_organizations_asset(api: TestClient, db: Engine) -> None:
    owner = sign_up(api, "owner@example.com", "owner-bot")
    stranger = sign_up(api, "stranger@example.com", "stranger-bot")
    assert stranger.organization_id != owner.organization_id
    source = _uploaded(owner)
    before = row_counts(db)
    check_error(
        stranger.edit(input_asset_id=source["asset_id"], prompt="grayscale"), "NOT_FOUND", 1
    )
    assert row_counts(db) == before
    assert stranger.quota()["credits"]["balance"] == 10
