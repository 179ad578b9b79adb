"""One creative request: the CLI/SDK options type and the service's schemas agree.

``contract.creative.CreativeOptions`` is what the CLI and SDK send;
``service.creative.schemas`` is what the service accepts. A field added to
one and not the other, or a default that drifts, fails here.
"""

from __future__ import annotations

from dataclasses import MISSING, fields

import pytest
from pydantic import BaseModel

from image_skill.contract.creative import (
    ALWAYS_SENT,
    DEFAULT_ASPECT_RATIO,
    CreativeOperation,
    CreativeOptions,
)
from image_skill.service.creative.schemas import CreateRequest, EditRequest

SCHEMAS: dict[CreativeOperation, type[BaseModel]] = {
    "create": CreateRequest,
    "edit": EditRequest,
}
OPTION_FIELDS = {spec.name for spec in fields(CreativeOptions)}


@pytest.mark.parametrize("operation", ["create", "edit"])
def test_options_have_exactly_the_schema_fields(operation: CreativeOperation) -> None:
    schema_fields = set(SCHEMAS[operation].model_fields)
    if operation == "edit":
        schema_fields.remove("input_asset_id")
    assert schema_fields == OPTION_FIELDS
    assert ALWAYS_SENT[operation] <= OPTION_FIELDS


@pytest.mark.parametrize("operation", ["create", "edit"])
def test_option_defaults_are_the_service_defaults(operation: CreativeOperation) -> None:
    schema = SCHEMAS[operation].model_fields
    for spec in fields(CreativeOptions):
        if spec.default is MISSING:
            assert schema[spec.name].is_required(), spec.name
        elif spec.name == "aspect_ratio":
            assert schema[spec.name].default == DEFAULT_ASPECT_RATIO[operation]
        else:
            assert schema[spec.name].default == spec.default, spec.name


@pytest.mark.parametrize("operation", ["create", "edit"])
def test_every_body_validates_and_round_trips(operation: CreativeOperation) -> None:
    options = CreativeOptions(
        "a cat",
        provider="test",
        model="test.counting",
        intent="draft",
        aspect_ratio="16:9",
        max_estimated_usd_per_image=0.5,
        max_usd=1,
        model_parameters={"seed": 1},
        output={"format": "png"},
        dry_run=True,
        accept_unknown_cost=True,
    )
    input_asset_id = "image_x" if operation == "edit" else None
    body = options.body(operation, input_asset_id=input_asset_id)
    parsed = SCHEMAS[operation].model_validate(body).model_dump(exclude_unset=True)
    assert parsed == body


def test_dry_run_rides_the_wire_as_in_0_1_0() -> None:
    # create always carried dry_run in 0.1.0; edit gained it later, so it is sent only when set.
    assert CreativeOptions("p").body("create")["dry_run"] is False
    assert "dry_run" not in CreativeOptions("p").body("edit", input_asset_id="image_x")
    edit_plan = CreativeOptions("p", dry_run=True).body("edit", input_asset_id="image_x")
    assert edit_plan["dry_run"] is True


def test_only_an_edit_names_an_input() -> None:
    with pytest.raises(ValueError):
        CreativeOptions("p").body("edit")
    with pytest.raises(ValueError):
        CreativeOptions("p").body("create", input_asset_id="image_x")
