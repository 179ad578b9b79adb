"""A server imports the deferred modules of configured models before serving."""

from __future__ import annotations

import sys

import pytest

from image_skill.providers.base import Model
from image_skill.providers.plugins import collect_models
from image_skill.service.warm_up import SERVICE_MODULES, modules_to_warm, warm_up


def _model(model_id: str, sdk: str, env: str) -> Model:
    return Model(
        model_id=model_id,
        provider="test",
        display_name=model_id,
        description="",
        operations=("create",),
        parameters_schema={"type": "object"},
        required_env=(env,),
        sdk_modules=(sdk,),
    )


def test_only_configured_models_sdks_are_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARM_TEST_KEY", "set")
    monkeypatch.delenv("WARM_TEST_OTHER_KEY", raising=False)
    models = {
        "a": _model("a", "colorsys", "WARM_TEST_KEY"),
        "b": _model("b", "wave", "WARM_TEST_OTHER_KEY"),
    }
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    monkeypatch.delitem(sys.modules, "wave", raising=False)
    warm_up(models)
    assert "colorsys" in sys.modules
    assert "wave" not in sys.modules
    assert set(SERVICE_MODULES) <= set(modules_to_warm(models))


def test_builtin_provider_sdks_are_declared(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "XAI_API_KEY", "FAL_KEY"):
        monkeypatch.setenv(name, "test-key")
    warmed = modules_to_warm(collect_models())
    assert {"openai", "fal_client", "jsonschema"} <= set(warmed)
    assert "torch" not in warmed  # local.diffusers loads on first use, in a worker thread


def test_a_server_warms_the_page_templates_and_stripe_only_when_configured() -> None:
    """Pages and payments import their libraries on first use; a server does it at start."""
    from image_skill.service.settings import Settings

    plain = modules_to_warm({}, Settings(stripe_secret_key=None, stripe_webhook_secret=None))
    assert "jinja2" in plain
    assert "stripe" not in plain
    paying = modules_to_warm({}, Settings(stripe_secret_key="sk_test_x"))
    assert "stripe" in paying
