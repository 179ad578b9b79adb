"""The budget guard's refusal: exact figures, the flag value that passes, and only
cheaper models that exist here (configured, priced, and no stand-in for a real model)."""

from __future__ import annotations

from typing import Any

import pytest

from image_skill.providers.plugins import default_models
from image_skill.service.catalog.parameters import validate_parameters
from image_skill.service.catalog.pricing import PricingPolicy, estimate_price, usd_text
from image_skill.service.creative.budget import budget_refusal, models_within
from image_skill.service.creative.schemas import CreateRequest

POLICY = PricingPolicy()


def refusal_for(model_id: str, **budget: float) -> dict[str, Any]:
    models = default_models()
    model = models[model_id]
    priced = estimate_price(model, validate_parameters(model, {}), POLICY)
    body = CreateRequest.model_validate({"prompt": "a kite", **budget})
    error = budget_refusal(
        priced, body, models=models, operation="create", model_id=model_id, policy=POLICY
    )
    assert error is not None and error.code == "BUDGET_CAP_EXCEEDED"
    return error.to_error()


@pytest.mark.parametrize(
    ("value", "text"), [(0.01, "$0.01"), (0.001, "$0.001"), (0.43, "$0.43"), (0.0005, "$0.0005")]
)
def test_amounts_keep_their_digits(value: float, text: str) -> None:
    assert usd_text(value) == text


def test_a_stand_in_over_budget_has_nowhere_cheaper(monkeypatch: pytest.MonkeyPatch) -> None:
    error = refusal_for("local.sketch", max_usd=0.001)
    assert error["message"] == (
        "This costs $0.01 in total (1 credit at $0.01), above --max-usd $0.001. "
        "Raise --max-usd to at least 0.01; no model configured here costs less."
    )
    assert error["recovery"] == {"required_flag": "--max-usd 0.01"}
    assert error["details"]["models_within_budget"] == []


def test_a_real_model_over_budget_names_configured_real_models_within_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-key")
    monkeypatch.delenv("FAL_KEY", raising=False)
    error = refusal_for("openai.gpt-image-2", max_usd=0.2)
    within = error["details"]["models_within_budget"]
    assert within and "local.sketch" not in within  # a stand-in is no substitute
    assert all(m.startswith("openai.") for m in within)  # only configured providers
    assert error["recovery"]["suggested_command"] == f"image-skill models show {within[0]} --json"
    assert f"or use a model within it: {within[0]}" in error["message"]
    models = default_models()
    for model_id in within:
        model = models[model_id]
        assert estimate_price(model, validate_parameters(model, {}), POLICY).price_usd <= 0.2
    # Per image, the same.
    per_image = refusal_for("openai.gpt-image-2", max_estimated_usd_per_image=0.2)
    assert per_image["details"]["field"] == "max_estimated_usd_per_image"
    assert per_image["details"]["models_within_budget"] == within


def test_models_within_skips_the_asked_model_and_unknown_prices(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-key")
    models = default_models()
    found = models_within(models, "create", "openai.gpt-image-2", POLICY, total_cap=100.0)
    assert "openai.gpt-image-2" not in found
    assert "xai.grok-imagine-image" not in found  # not configured (and priced unknown)
    assert found == sorted(
        found,
        key=lambda m: (
            estimate_price(models[m], validate_parameters(models[m], {}), POLICY).price_usd
        ),
    )
