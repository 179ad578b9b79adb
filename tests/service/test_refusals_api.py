"""Refused creates kept as never-started failed jobs: only real refusals, and boundedly."""

from __future__ import annotations

from fastapi.testclient import TestClient

from image_skill.service.quota.refusals import KEPT_PER_DAY
from tests.support.agents import sign_up
from tests.support.envelopes import check_error, ok


def test_only_real_budget_refusals_are_kept_and_at_most_a_days_worth(api: TestClient) -> None:
    agent = sign_up(api)
    # A dry run that would be refused, and a refusal that is not about money: nothing kept.
    plan = ok(agent.create(model="local.sketch", max_usd=0.001, dry_run=True), 200)
    assert plan["blocked_by"] == ["BUDGET_CAP_EXCEEDED"]
    assert plan["cost"]["price_usd"] == 0.01 and plan["cost"]["budget_basis"] == "price_usd"
    check_error(agent.create(model="no.such-model"), "MODEL_NOT_FOUND", 2)
    assert agent.quota()["refusals"]["today"] == 0
    assert ok(agent.get("/v1/jobs"), 200)["jobs"] == []

    kept = []
    for _ in range(KEPT_PER_DAY + 3):
        error = check_error(
            agent.create(model="local.sketch", max_usd=0.001), "BUDGET_CAP_EXCEEDED", 4
        )
        kept.append(error["details"].get("refused_job_id"))
    assert all(kept[:KEPT_PER_DAY]) and kept[KEPT_PER_DAY:] == [None] * 3
    refusals = agent.quota()["refusals"]
    assert refusals["today"] == KEPT_PER_DAY
    assert [r["job_id"] for r in refusals["recent"]] == kept[KEPT_PER_DAY - 1 :: -1][:5]
    jobs = ok(agent.get("/v1/jobs", params={"status": "failed", "limit": 100}), 200)["jobs"]
    assert len(jobs) == KEPT_PER_DAY
    events = ok(agent.get("/v1/activity", params={"limit": 100}), 200)["events"]
    assert len(events) == KEPT_PER_DAY
    assert {(e["type"], e["status"]) for e in events} == {("job.completed", "refused")}

    # None of it counts against the daily cap or the balance.
    quota = agent.quota()
    assert quota["jobs"]["used_today"] == 0 and quota["credits"]["balance"] == 10
    ok(agent.create(model="local.sketch"))

    # Another organization sees none of them.
    stranger = sign_up(api, "stranger@example.com", "stranger-bot")
    assert stranger.quota()["refusals"]["today"] == 0
    check_error(stranger.get(f"/v1/jobs/{kept[0]}"), "NOT_FOUND", 1)
