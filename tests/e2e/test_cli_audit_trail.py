"""The audit trail an agent can read through the real CLI: its signup and free grant,
refused attempts (budget, daily cap), event ids in human output, one price.

Against ``image-skill serve`` on SQLite and PostgreSQL, and once in embedded mode.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.agents import cli_sign_up
from tests.support.cli import RunCli, checked, expect, job_ids
from tests.support.servers import Server

EVENT_LINE = re.compile(r"(evt_\S+)  \S+Z  (\S+)  (.*)  \((\S+) (\S+)\)")


@pytest.fixture
def run(cli: RunCli) -> RunCli:
    return checked(cli)


def data_of(run: RunCli, *args: str) -> dict[str, Any]:
    data: dict[str, Any] = expect(run(*args, "--json"), 0)["data"]
    return data


def test_signup_grant_and_refusals_are_listed(server: Server, run: RunCli) -> None:
    cli_sign_up(run, server.base_url)
    quota = data_of(run, "usage", "quota")
    assert quota["history"]["signed_up_at"].endswith("Z")
    [grant] = quota["history"]["grants"]
    assert grant["reason"] == "free_preview" and grant["credits"] == 10
    assert grant["credit_event_id"].startswith("credit_event_")
    assert quota["refusals"] == {
        "today": 0,
        "recent": [],
        "list_command": "image-skill jobs list --status failed --json",
    }

    # A budget refusal: the exact figures, the flag value that passes, no dead-end hint.
    refused = run("create", "--prompt", "p", "--max-usd", "0.001", "--json")
    error = expect(refused, 4, "BUDGET_CAP_EXCEEDED")["error"]
    assert "$0.001" in error["message"] and "$0.00," not in error["message"]
    assert "$0.01" in error["message"]
    assert error["recovery"] == {"required_flag": "--max-usd 0.01"}
    assert "no model configured here costs less" in error["message"]  # local.sketch is cheapest
    assert (error["details"]["price_usd"], error["details"]["cap_usd"]) == (0.01, 0.001)
    refused_id = error["details"]["refused_job_id"]
    human = run("create", "--prompt", "p", "--max-usd", "0.001")
    assert human.exit_code == 4 and "add: --max-usd 0.01" in human.stderr

    # It is listed as a never-started failed job, in the quota view and in the ledger.
    failed = data_of(run, "jobs", "show", refused_id)["job"]
    assert failed["status"] == "failed" and failed["started_at"] is None
    assert failed["error"]["code"] == "BUDGET_CAP_EXCEEDED"
    assert failed["cost"]["credits_reserved"] == failed["cost"]["credits_debited"] == 0
    assert failed["cost"]["charged_usd"] == 0.0
    assert refused_id in job_ids(run, "--status", "failed")
    listed = run("jobs", "list", "--status", "failed").stdout.splitlines()
    [line] = [line for line in listed if line.startswith(refused_id)]
    assert line.startswith(f"{refused_id}  failed  create  local.sketch  charged 0 credits  ")
    assert line.endswith("  BUDGET_CAP_EXCEEDED (never ran)")
    quota = data_of(run, "usage", "quota")
    assert quota["refusals"]["today"] == 2
    assert quota["refusals"]["recent"][1]["job_id"] == refused_id
    assert quota["credits"]["balance"] == 10 and quota["jobs"]["used_today"] == 0

    # The one price: what the answer says it costs is what the ledger and quota charge.
    made = data_of(run, "create", "--prompt", "a kite")
    price = made["cost"]["price_usd"]
    assert made["cost"]["budget_basis"] == "price_usd"
    assert price == made["cost"]["credit_pricing"]["credits_required"] * 0.01
    assert made["quota"]["credits_debited"] == round(price / 0.01)
    assert data_of(run, "jobs", "show", made["job_id"])["job"]["cost"]["charged_usd"] == price
    data_of(run, "create", "--prompt", "a second kite")
    expect(run("create", "--prompt", "a third kite", "--json"), 5, "DAILY_JOB_CAP_REACHED")
    quota = data_of(run, "usage", "quota")
    assert quota["spending"]["spent_total_usd"] == pytest.approx(2 * price)
    assert quota["refusals"]["today"] == 3
    assert quota["refusals"]["recent"][0]["code"] == "DAILY_JOB_CAP_REACHED"
    human = run("usage", "quota").stdout.splitlines()
    assert human[:2] == [
        "credits: 8 credits left ($0.08), 0 reserved",
        "spent: 2 credits today ($0.02), 2 credits in total ($0.02)",
    ]
    assert human[3].startswith("refused today: 3 (newest: job_")
    assert human[3].endswith("list them: image-skill jobs list --status failed --json")
    assert (
        human[-1]
        == f"granted: 10 credits (free_preview) {grant['granted_at']}  "
        + (grant["credit_event_id"])
    )

    # Humans see each event's id first, and can show it without --json.
    lines = run("activity", "list", "--limit", "100").stdout.splitlines()
    parsed = [EVENT_LINE.fullmatch(line) for line in lines]
    assert all(parsed), lines
    refusals = [m for m in parsed if m and m[2] == "job.completed" and "refused" in m[3]]
    assert [m[5] for m in refusals][-1] == refused_id
    assert refusals[0][3] == "Create job refused: DAILY_JOB_CAP_REACHED"
    consumed = [m for m in parsed if m and m[2] == "usage.credit_consumed"]
    assert [m[3] for m in consumed] == ["Create job consumed 1 credit"] * 2  # as charged
    event_id = refusals[-1][1]
    shown = run("activity", "show", event_id)
    assert shown.exit_code == 0 and shown.stdout.startswith(event_id + "  ")
    event = data_of(run, "activity", "show", event_id)["event"]
    assert (event["type"], event["status"]) == ("job.completed", "refused")
    assert event["links"]["job_id"] == refused_id
    assert event["cost"]["credits"] == 0


@pytest.mark.slow  # cold embedded CLI processes
def test_embedded_owner_is_charged_nothing_everywhere(run: RunCli) -> None:
    made = data_of(run, "create", "--prompt", "a kite")
    assert made["quota"]["credits_debited"] == 0  # the local owner is unlimited
    assert made["cost"]["price_usd"] == 0.01  # the list price, what an agent would pay
    events = data_of(run, "activity", "list")["events"]
    usage = next(e for e in events if e["type"] == "usage.credit_consumed")
    assert usage["cost"]["credits"] == 0 and "consumed 0 credits" in usage["summary"]
    spending = data_of(run, "usage", "quota")["spending"]
    assert spending["spent_total_credits"] == 0 and spending["spent_total_usd"] == 0.0
