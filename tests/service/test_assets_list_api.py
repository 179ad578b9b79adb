"""``GET /v1/assets``: an organization's assets, paged newest first, filtered by kind and job."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.agents import Agent, sign_up
from tests.support.envelopes import check_error, ok
from tests.support.images import png


@pytest.fixture
def agent(api: TestClient) -> Agent:
    return sign_up(api)


@pytest.fixture
def made(agent: Agent) -> dict[str, dict[str, Any]]:
    """One asset of each kind: an upload, a create's output and an edit's output."""
    uploaded = ok(agent.upload(png(24, 40)))["asset"]
    created = ok(agent.create(model="local.sketch", model_parameters={"long_edge": 64}))
    edited = ok(agent.edit(input_asset_id=uploaded["asset_id"], prompt="rotate 90, grayscale"))
    return {
        "uploaded": uploaded,
        "generated": created["assets"][0],
        "edited": edited["assets"][0],
    }


def listed(agent: Agent, **params: Any) -> dict[str, Any]:
    return ok(agent.get("/v1/assets", params=params), 200)


def ids(data: dict[str, Any]) -> list[str]:
    return [asset["asset_id"] for asset in data["assets"]]


def test_lists_newest_first_with_the_show_view(
    agent: Agent, made: dict[str, dict[str, Any]]
) -> None:
    data = listed(agent)
    assert ids(data) == [made[k]["asset_id"] for k in ("edited", "generated", "uploaded")]
    assert data["next_cursor"] is None
    for asset in data["assets"]:
        shown = ok(agent.get(f"/v1/assets/{asset['asset_id']}"), 200)["asset"]
        assert asset == shown  # the same view (and fresh signed URL) as assets show
    by_id = {asset["asset_id"]: asset for asset in data["assets"]}
    # local.sketch and local.transform are stand-ins; an upload has no model.
    assert by_id[made["generated"]["asset_id"]]["stand_in"] is True
    assert by_id[made["edited"]["asset_id"]]["stand_in"] is True
    assert "stand_in" not in by_id[made["uploaded"]["asset_id"]]


def test_filters_by_kind_and_job(agent: Agent, made: dict[str, dict[str, Any]]) -> None:
    for kind, asset in made.items():
        assert ids(listed(agent, kind=kind)) == [asset["asset_id"]], kind
        assert ids(listed(agent, job=asset["job_id"])) == [asset["asset_id"]], kind
    generated = made["generated"]
    assert ids(listed(agent, kind="uploaded", job=generated["job_id"])) == []
    assert ids(listed(agent, job="job_01m00000000000000000000000")) == []


def test_pages_with_the_cursor(agent: Agent, made: dict[str, dict[str, Any]]) -> None:
    seen: list[str] = []
    cursor = None
    for _ in range(4):
        params = {"limit": 1} | ({"cursor": cursor} if cursor else {})
        page = listed(agent, **params)
        seen += ids(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids(listed(agent))
    assert len(seen) == 3


def test_organization_scoped(api: TestClient, agent: Agent, made: dict[str, Any]) -> None:
    stranger = sign_up(api, "stranger@example.com", "stranger-bot")
    assert listed(stranger)["assets"] == []
    assert listed(stranger, job=made["generated"]["job_id"])["assets"] == []
    # A cursor from another organization's page shows nothing of it either.
    assert listed(stranger, cursor="image_zzzzzzzzzzzzzzzzzzzzzzzzzz")["assets"] == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"kind": "painted"}, "kind"),
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"cursor": "job_01m00000000000000000000000"}, "cursor"),
        ({"cursor": "bad cursor"}, "cursor"),
        ({"job": "x" * 500}, "job"),
    ],
)
def test_bad_parameters(agent: Agent, params: dict[str, Any], field: str) -> None:
    error = check_error(agent.get("/v1/assets", params=params), "INVALID_ARGUMENTS", 2)
    assert field in str(error)


def test_needs_a_token(api: TestClient) -> None:
    check_error(api.get("/v1/assets"), "AUTH_REQUIRED", 3)


def test_not_found_points_at_the_lists(agent: Agent) -> None:
    missing = check_error(agent.get("/v1/assets/image_doesnotexist"), "NOT_FOUND", 1)
    assert missing["recovery"]["suggested_command"] == "image-skill assets list --json"
    missing = check_error(agent.get("/v1/jobs/job_doesnotexist"), "NOT_FOUND", 1)
    assert missing["recovery"]["suggested_command"] == "image-skill jobs list --json"
