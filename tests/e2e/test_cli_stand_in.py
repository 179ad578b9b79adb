"""Honest results through the real embedded CLI: a stand-in model says it is one.

With no provider configured, create runs on ``local.sketch`` and every form of
the answer (JSON warning and field, human stderr line, dry run) says that the
image ignores the prompt and which variable turns a real model on. With a
(fake) OpenAI configured, the default becomes the OpenAI model and nothing warns.
``models list`` and dry runs say which default is used and why.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.openai_api import FakeImagesAPI
from tests.support.cli import RunCli, checked_until_teardown, expect

KEY = "sk-test-stand-in-never-shown"
PROVIDER_VARS = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "FAL_KEY",
    "XAI_API_KEY",
    "IMAGE_SKILL_DIFFUSERS_MODEL_DIR",
    "IMAGE_SKILL_DEFAULT_CREATE_MODEL",
    "IMAGE_SKILL_DEFAULT_EDIT_MODEL",
)


@pytest.fixture
def run(
    cli: RunCli, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RunCli]:
    """The real CLI with no provider configured (whatever this machine has set)."""
    for name in PROVIDER_VARS:
        monkeypatch.delenv(name, raising=False)
    yield from checked_until_teardown(cli, request)


@pytest.fixture
def openai_env() -> Iterator[dict[str, str]]:
    """The environment of a service whose OpenAI provider is a fake on loopback."""
    with FakeImagesAPI(KEY).running() as fake:
        yield {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": fake.base_url}


def stand_in_warnings(envelope: dict[str, Any]) -> list[str]:
    return [w for w in envelope["warnings"] if w.startswith("STAND_IN_MODEL:")]


def test_default_create_on_the_stand_in_says_so_with_the_enable_step(run: RunCli) -> None:
    envelope = expect(run("create", "--prompt", "a red fox in snow", "--json"), 0)
    data = envelope["data"]
    assert data["model_id"] == "local.sketch"
    assert data["stand_in"] is True
    notice = data["stand_in_notice"]
    assert notice["code"] == "STAND_IN_MODEL"
    assert notice["model_id"] == "local.sketch"
    assert "export OPENAI_API_KEY=" in notice["how_to_enable"]
    assert "FAL_KEY" in notice["how_to_enable"]
    assert notice["suggested_command"] == "image-skill models list"
    (warning,) = stand_in_warnings(envelope)
    assert "OPENAI_API_KEY" in warning and "local.sketch" in warning
    assert KEY not in str(envelope)


def test_human_create_prints_the_stand_in_line(run: RunCli) -> None:
    result = run("create", "--prompt", "a red fox in snow")
    assert result.exit_code == 0, result.stderr
    line = next(ln for ln in result.stderr.splitlines() if "STAND_IN_MODEL" in ln)
    assert line.startswith("warning: STAND_IN_MODEL: local.sketch is a stand-in")
    assert "export OPENAI_API_KEY=" in line
    assert "image: " in result.stdout


def test_dry_run_says_default_why_and_stand_in(run: RunCli) -> None:
    envelope = expect(run("create", "--prompt", "a red fox", "--dry-run", "--json"), 0)
    model = envelope["data"]["model"]
    assert model["model_id"] == "local.sketch"
    assert model["default_reason"]["reason"] == "stand_in_fallback"
    assert "OPENAI_API_KEY" in model["default_reason"]["message"]
    assert envelope["data"]["stand_in"] is True
    assert stand_in_warnings(envelope)
    named = expect(
        run("create", "--prompt", "a red fox", "--model", "local.sketch", "--dry-run", "--json"),
        0,
    )["data"]["model"]["default_reason"]
    assert named == {
        "model_id": "local.sketch",
        "reason": "requested",
        "message": "named by the request",
    }


def test_models_list_names_the_stand_in_defaults_and_why(run: RunCli) -> None:
    data = expect(run("models", "list", "--json"), 0)["data"]
    assert data["defaults"] == {"create": "local.sketch", "edit": "local.transform"}
    assert data["default_reason"]["create"]["reason"] == "stand_in_fallback"
    assert data["default_reason"]["edit"]["reason"] == "stand_in_fallback"
    human = run("models", "list")
    assert "create default is local.sketch: no real create model is configured" in human.stdout


def test_configured_openai_becomes_the_default_and_nothing_warns(
    run: RunCli, openai_env: dict[str, str]
) -> None:
    listed = expect(run("models", "list", "--json", env=openai_env), 0)["data"]
    assert listed["defaults"] == {
        "create": "openai.gpt-image-2",
        "edit": "openai.gpt-image-2-edit",
    }
    assert listed["default_reason"]["create"]["reason"] == "best_configured"
    planned = expect(
        run("create", "--prompt", "a red fox", "--dry-run", "--json", env=openai_env), 0
    )
    assert planned["data"]["model"]["default_reason"]["reason"] == "best_configured"
    assert planned["data"]["stand_in"] is False
    envelope = expect(run("create", "--prompt", "a red fox in snow", "--json", env=openai_env), 0)
    assert envelope["data"]["model_id"] == "openai.gpt-image-2"
    assert envelope["data"]["stand_in"] is False
    assert "stand_in_notice" not in envelope["data"]
    assert not stand_in_warnings(envelope)
    human = run("create", "--prompt", "a red fox in snow", env=openai_env)
    assert human.exit_code == 0 and "STAND_IN_MODEL" not in human.stderr


def test_naming_the_stand_in_when_a_real_model_is_configured_points_at_it(
    run: RunCli, openai_env: dict[str, str]
) -> None:
    envelope = expect(
        run("create", "--prompt", "a fox", "--model", "local.sketch", "--json", env=openai_env), 0
    )
    notice = envelope["data"]["stand_in_notice"]
    assert notice["how_to_enable"] == "rerun with --model openai.gpt-image-2"
    assert notice["suggested_command"] == "image-skill models show openai.gpt-image-2"


def test_the_setting_overrides_the_best_configured_default(
    run: RunCli, openai_env: dict[str, str]
) -> None:
    env = {**openai_env, "IMAGE_SKILL_DEFAULT_CREATE_MODEL": "local.sketch"}
    listed = expect(run("models", "list", "--json", env=env), 0)["data"]
    assert listed["defaults"]["create"] == "local.sketch"
    assert listed["default_reason"]["create"] == {
        "model_id": "local.sketch",
        "reason": "setting",
        "message": "set by IMAGE_SKILL_DEFAULT_CREATE_MODEL",
    }
    assert listed["default_reason"]["edit"]["reason"] == "best_configured"


def test_jobs_show_and_list_say_the_job_ran_on_a_stand_in(
    run: RunCli, openai_env: dict[str, str]
) -> None:
    sketch = expect(run("create", "--prompt", "a fox", "--json"), 0)["data"]["job_id"]
    real = expect(run("create", "--prompt", "a fox", "--json", env=openai_env), 0)["data"]["job_id"]
    shown = expect(run("jobs", "show", sketch, "--json"), 0)["data"]["job"]
    assert shown["model_id"] == "local.sketch" and shown["stand_in"] is True
    listed = expect(run("jobs", "list", "--json", env=openai_env), 0)["data"]["jobs"]
    assert {job["job_id"]: job["stand_in"] for job in listed} == {sketch: True, real: False}


def test_assets_say_whether_a_stand_in_made_them(run: RunCli, openai_env: dict[str, str]) -> None:
    made = expect(run("create", "--prompt", "a fox", "--json"), 0)["data"]
    (asset,) = made["assets"]
    assert asset["stand_in"] is True
    shown = expect(run("assets", "show", asset["asset_id"], "--json"), 0)["data"]["asset"]
    assert shown["stand_in"] is True
    real = expect(run("create", "--prompt", "a fox", "--json", env=openai_env), 0)["data"]
    real_id = real["assets"][0]["asset_id"]
    assert real["assets"][0]["stand_in"] is False
    shown = expect(run("assets", "show", real_id, "--json", env=openai_env), 0)["data"]["asset"]
    assert shown["stand_in"] is False


def test_edit_defaults_to_the_configured_generative_edit_model(
    run: RunCli, openai_env: dict[str, str]
) -> None:
    source = expect(run("create", "--prompt", "a fox", "--json"), 0)["data"]["assets"][0]
    edit = ("edit", "--input", source["asset_id"], "--dry-run", "--json", "--prompt")
    exact = expect(run(*edit, "rotate 90"), 0)
    assert exact["data"]["model"]["model_id"] == "local.transform"
    assert exact["data"]["model"]["default_reason"]["reason"] == "stand_in_fallback"
    assert exact["data"]["stand_in"] is True and stand_in_warnings(exact)
    # The README's generative edit runs once a real edit model is configured.
    command = ("edit", "--input", source["asset_id"], "--prompt", "Remove the background")
    planned = expect(run(*command, "--dry-run", "--json", env=openai_env), 0)
    assert planned["data"]["model"]["model_id"] == "openai.gpt-image-2-edit"
    assert planned["data"]["model"]["default_reason"]["reason"] == "best_configured"
    assert planned["data"]["stand_in"] is False and not stand_in_warnings(planned)
