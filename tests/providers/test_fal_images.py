"""The fal models through the real service, against a local fake of fal's queue API.

The fake (``tests/fakes/fal_api.py``) is a loopback HTTP server speaking fal's
queue wire format; the adapter is pointed at it with fal_client's own
``FAL_QUEUE_RUN_HOST`` variable and a ``FAL_KEY``. Each test drives ``/v1/create``
or ``/v1/edit`` through the app (SQLite) and checks what reached fal, what landed
in our store and on our job, and that credits were released on failure.
"""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import Engine, create_engine, text

from image_skill.providers.plugins import default_models
from tests.fakes.fal_api import FakeFal, Injected, Outcome
from tests.support.agents import sign_up
from tests.support.apps import started_app
from tests.support.databases import row_counts
from tests.support.envelopes import check_error, ok
from tests.support.images import png

FAL_KEY = "fal-test-key-SECRET"


@pytest.fixture
def fal(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeFal]:
    with FakeFal(FAL_KEY) as fake:
        monkeypatch.setenv("FAL_QUEUE_RUN_HOST", fake.host)
        monkeypatch.setenv("FAL_KEY", FAL_KEY)
        default_models.cache_clear()
        yield fake
    default_models.cache_clear()


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'fal.db'}"


@pytest.fixture
def db(database_url: str) -> Iterator[Engine]:
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


def _agent(client: Any) -> Any:
    return sign_up(client)


@pytest.fixture
def agent(fal: FakeFal, database_url: str, tmp_path: Path) -> Iterator[Any]:
    overrides = {"free_preview_credits": 1000, "daily_job_cap_unclaimed": 100}
    with started_app(database_url, tmp_path / "svc", **overrides) as client:
        yield _agent(client)


def provider_request_id(db: Engine, job_id: str) -> str | None:
    with db.connect() as conn:
        value = conn.execute(
            text("SELECT provider_request_id FROM jobs WHERE id = :id"), {"id": job_id}
        ).scalar_one()
    return None if value is None else str(value)


def only_job(db: Engine) -> tuple[str, str | None, str]:
    with db.connect() as conn:
        [(job_id, request_id, status)] = conn.execute(
            text("SELECT id, provider_request_id, status FROM jobs")
        ).all()
    return str(job_id), request_id, str(status)


def assert_nothing_held(agent: Any, balance: int = 1000) -> None:
    credits = agent.quota()["credits"]
    assert credits["reserved_in_flight"] == 0
    assert credits["balance"] == balance


# --- create ------------------------------------------------------------------------------


def test_create_stores_the_image_in_our_store(agent: Any, fal: FakeFal, db: Engine) -> None:
    response = agent.create(
        model="fal.flux-dev",
        aspect_ratio="16:9",
        model_parameters={
            "seed": 1234,
            "num_images": 2,
            "guidance_scale": 5.5,
            "num_inference_steps": 12,
            "acceleration": "regular",
            "enable_safety_checker": True,
        },
        output={"format": "png"},
    )
    data = ok(response)
    assert fal.url not in response.text and "/files/" not in response.text

    [submit] = fal.submits
    assert submit.endpoint == "fal-ai/flux/dev"
    assert submit.authorization == f"Key {FAL_KEY}"
    assert submit.arguments == {
        "prompt": "a quiet harbour",
        "image_size": "landscape_16_9",
        "output_format": "png",
        "seed": 1234,
        "num_images": 2,
        "guidance_scale": 5.5,
        "num_inference_steps": 12,
        "acceleration": "regular",
        "enable_safety_checker": True,
    }
    [queued] = fal.requests.values()
    assert provider_request_id(db, data["job_id"]) == queued.request_id

    assert len(data["assets"]) == 2
    for asset, produced in zip(data["assets"], queued.images, strict=True):
        assert asset["url"].startswith("http://testserver/a/")
        body = agent.client.get(asset["url"]).content
        assert body == produced
        assert hashlib.sha256(body).hexdigest() == asset["sha256"]
        assert (asset["width"], asset["height"]) == (64, 36)
        assert asset["mime_type"] == "image/png"
    assert data["cost"]["credit_pricing"]["pricing_confidence"] == "known"
    assert data["cost"]["estimated_usd_per_image"] == 0.025
    assert data["quota"]["credits_debited"] == 10  # 2 x ceil(0.025 x 2 / 0.01)


def test_request_id_is_recorded_before_the_result(agent: Any, fal: FakeFal, db: Engine) -> None:
    seen: list[tuple[str, str | None]] = []

    def check(request_id: str) -> None:
        with db.connect() as conn:
            row = conn.execute(text("SELECT provider_request_id, status FROM jobs")).one()
        seen.append((request_id, row[0]))
        assert row[1] == "running"

    fal.on_status = check
    ok(agent.create(model="fal.flux-dev", model_parameters={"seed": 3}))
    assert not fal.status_callback_errors
    assert seen and all(recorded == request_id for request_id, recorded in seen)


def test_unknown_and_planning_only_parameters_are_refused_before_submit(
    agent: Any, fal: FakeFal, db: Engine
) -> None:
    before = row_counts(db)
    for params in ({"strength": 0.5}, {"sync_mode": True}, {"image_size": "square"}):
        check_error(
            agent.create(model="fal.flux-dev", model_parameters=params),
            "MODEL_PARAMETERS_INVALID",
            2,
        )
    assert fal.submits == []
    assert row_counts(db) == before


def test_missing_key_is_not_configured(
    agent: Any, fal: FakeFal, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FAL_KEY")
    error = check_error(agent.create(model="fal.flux-dev"), "MODEL_NOT_CONFIGURED", 4)
    assert error["details"]["missing_env"] == ["FAL_KEY"]
    assert fal.submits == []


# --- edit --------------------------------------------------------------------------------


def test_edit_sends_the_input_image_and_stores_the_result(
    agent: Any, fal: FakeFal, db: Engine
) -> None:
    source = png(40, 24, (1, 2, 3))
    uploaded = ok(agent.upload(source))["asset"]
    data = ok(
        agent.edit(
            model="fal.nano-banana-2-edit",
            input_asset_id=uploaded["asset_id"],
            prompt="make it dusk",
            aspect_ratio="4:3",
            model_parameters={"seed": 9, "resolution": "2K", "safety_tolerance": "2"},
        )
    )
    [submit] = fal.submits
    assert submit.endpoint == "fal-ai/nano-banana-2/edit"
    args = submit.arguments
    [image_url] = args.pop("image_urls")
    assert args == {
        "prompt": "make it dusk",
        "aspect_ratio": "4:3",
        "seed": 9,
        "resolution": "2K",
        "safety_tolerance": "2",
    }
    prefix = "data:image/png;base64,"
    assert image_url.startswith(prefix)
    assert base64.b64decode(image_url[len(prefix) :]) == source

    [asset] = data["assets"]
    [queued] = fal.requests.values()
    body = agent.client.get(asset["url"]).content
    assert body == queued.images[0]
    with Image.open(io.BytesIO(body)) as image:
        assert image.size == (asset["width"], asset["height"])
    assert provider_request_id(db, data["job_id"]) == queued.request_id
    assert data["cost"]["estimated_usd_per_image"] == 0.12  # $0.08 x 1.5 at 2K


# --- failures ----------------------------------------------------------------------------


def _fails(agent: Any, code: str, exit_code: int) -> dict[str, Any]:
    error: dict[str, Any] = check_error(
        agent.create(model="fal.flux-dev", model_parameters={"seed": 1}), code, exit_code
    )
    assert FAL_KEY not in str(error)
    assert_nothing_held(agent)
    return error


def test_rejected_key_is_not_configured(agent: Any, fal: FakeFal) -> None:
    fal.key = "another-key"
    error = _fails(agent, "MODEL_NOT_CONFIGURED", 4)
    assert "FAL_KEY" in error["message"]
    assert len(fal.submits) == 1


def test_rate_limit_is_unavailable_with_retry_after(agent: Any, fal: FakeFal) -> None:
    fal.submit_error = Injected(429, {"detail": "Too many requests"}, {"Retry-After": "7"})
    error = _fails(agent, "PROVIDER_UNAVAILABLE", 7)
    assert error["retryable"] is True
    assert error["recovery"]["retry_after_seconds"] == 7
    assert len(fal.submits) == 1  # not retried by the client


def test_server_error_on_submit_is_provider_failed(agent: Any, fal: FakeFal) -> None:
    fal.submit_error = Injected(500, {"detail": "boom"})
    _fails(agent, "PROVIDER_FAILED", 7)
    assert len(fal.submits) == 1


def test_failed_request_is_provider_failed(agent: Any, fal: FakeFal, db: Engine) -> None:
    fal.outcome = Outcome("error", Injected(500, {"detail": "runner crashed"}))
    error = _fails(agent, "PROVIDER_FAILED", 7)
    assert "runner crashed" not in error["message"]
    _, request_id, status = only_job(db)
    assert status == "failed" and request_id == next(iter(fal.requests))


def test_content_policy_is_denied(agent: Any, fal: FakeFal) -> None:
    detail = [{"loc": ["body", "prompt"], "msg": "flagged", "type": "content_policy_violation"}]
    fal.outcome = Outcome("error", Injected(422, {"detail": detail}))
    _fails(agent, "CONTENT_POLICY_DENIED", 6)


def test_safety_checker_flagging_every_image_is_denied(agent: Any, fal: FakeFal) -> None:
    fal.outcome = Outcome("nsfw")
    _fails(agent, "CONTENT_POLICY_DENIED", 6)
    assert fal.file_requests == 0  # flagged outputs are never fetched


def test_polling_errors_never_resubmit(agent: Any, fal: FakeFal) -> None:
    fal.status_errors.extend([Injected(429), Injected(429)])
    ok(agent.create(model="fal.flux-dev"))
    assert fal.status_error_count == 2
    assert len(fal.submits) == 1

    fal.status_errors.append(Injected(500, {"detail": "status broke"}))
    _fails_after_success = check_error(agent.create(model="fal.flux-dev"), "PROVIDER_FAILED", 7)
    assert _fails_after_success["retryable"] is True
    assert len(fal.submits) == 2  # one per job


def test_slow_queue_times_out_and_keeps_the_request_id(
    fal: FakeFal, database_url: str, tmp_path: Path, db: Engine
) -> None:
    overrides = {"free_preview_credits": 1000, "provider_timeout_seconds": 1.0}
    with started_app(database_url, tmp_path / "svc", **overrides) as client:
        agent = _agent(client)
        fal.outcome = Outcome("never")
        check_error(agent.create(model="fal.flux-dev"), "PROVIDER_TIMEOUT", 8)
        _, request_id, status = only_job(db)
        assert status == "failed"
        assert request_id == next(iter(fal.requests))
        assert fal.cancels == []  # the paid request is left to finish, recoverable by id
        assert len(fal.submits) == 1
        assert_nothing_held(agent)
