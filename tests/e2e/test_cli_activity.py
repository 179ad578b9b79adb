"""activity list and activity show through the real CLI.

Against ``image-skill serve`` on SQLite and PostgreSQL (with the counting
provider plugin, for a failing model), and once in embedded mode.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.support.agents import cli_sign_up
from tests.support.cli import RunCli, checked, expect
from tests.support.images import png_bytes
from tests.support.plugins import plugin_env
from tests.support.servers import running_server

PROMPT = "harbour-marker-4e1f under a red moon"
REGISTRY = {
    "job.completed",
    "asset.created",
    "asset.uploaded",
    "usage.credit_consumed",
    "feedback.created",
    "payment.checkout_session.created",
    "credits.payment_backed_granted",
}


@pytest.fixture
def run(cli: RunCli) -> RunCli:
    return checked(cli)


def data_of(run: RunCli, *args: str, **kwargs: Any) -> dict[str, Any]:
    envelope = expect(run(*args, "--json", **kwargs), 0)
    assert PROMPT not in str(envelope)
    data: dict[str, Any] = envelope["data"]
    return data


def test_activity_against_a_server(
    database_url: str, tmp_path: Path, run: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = plugin_env(tmp_path / "calls.log")
    env["IMAGE_SKILL_FAKE_PAYMENTS_ENABLED"] = "true"
    with running_server(database_url, tmp_path, env) as server:
        cli_sign_up(run, server.base_url)  # saves the config: no flags needed from here on
        monkeypatch.chdir(tmp_path)
        Path("in.png").write_bytes(png_bytes(24, 16))

        upload = data_of(run, "upload", "in.png")["asset"]
        quote = data_of(run, "credits", "quote", "--credits", "40", "--idempotency-key", "q-1")
        paid = data_of(
            run, "credits", "fake-purchase", "--quote-id", quote["quote_id"],
            "--idempotency-key", "p-1",
        )  # fmt: skip
        created = expect(run("create", "--prompt", PROMPT, "--model", "test.counting", "--json"), 0)
        job_id, asset_id = created["data"]["job_id"], created["data"]["assets"][0]["asset_id"]
        failed = expect(
            run("create", "--prompt", PROMPT, "--model", "test.failing", "--json"),
            7,
            "PROVIDER_FAILED",
        )
        feedback = data_of(
            run, "feedback", "create", "--title", "Ledger readback",
            "--body", "Checking that feedback shows up in the activity ledger.",
            "--evidence", f"job:{job_id}", "--surface", "cli",
        )  # fmt: skip
        (feedback_id,) = set(re.findall(r"sig_[0-9a-z]+", str(feedback)))

        # The whole ledger, newest first, one event per registry step.
        listed = expect(run("activity", "list", "--json"), 0)
        assert listed["command"] == "image-skill activity list"
        events = listed["data"]["events"]
        assert listed["data"]["source"] == "hosted_activity_ledger"
        assert listed["data"]["next_cursor"] is None
        assert [(e["type"], e["status"]) for e in events[1:]] == [
            ("job.completed", "failed"),
            ("job.completed", "completed"),
            ("asset.created", "available"),
            ("usage.credit_consumed", "recorded"),
            ("credits.payment_backed_granted", "succeeded"),
            ("asset.uploaded", "available"),
        ]
        feedback_event, failed_event, job_event, asset_event, usage_event, grant, uploaded = events
        assert feedback_event["type"] == "feedback.created"
        assert feedback_event["subject"] == {"type": "feedback", "id": feedback_id}
        assert feedback_event["links"]["feedback_id"] == feedback_id
        assert {e["type"] for e in events} <= REGISTRY
        assert failed_event["trace_id"] == failed["trace_id"]
        assert failed_event["links"]["asset_ids"] == []
        assert job_event["subject"] == {"type": "job", "id": job_id}
        assert job_event["trace_id"] == created["trace_id"]
        assert asset_event["subject"] == {"type": "asset", "id": asset_id}
        usage_id = usage_event["subject"]["id"]
        for event in (job_event, asset_event, usage_event):
            assert event["links"]["job_id"] == job_id
            assert event["links"]["usage_event_id"] == usage_id
        assert grant["links"]["quote_id"] == quote["quote_id"]
        assert grant["links"]["receipt_id"] == paid["receipt_id"]
        assert grant["links"]["credit_event_id"] == paid["credit_event_id"]
        assert uploaded["subject"] == {"type": "asset", "id": upload["asset_id"]}
        assert all(len(e["links"]) == 10 for e in events)  # every link key, claim_id included

        # Pages of two walk the same events; the cursor comes from the previous page.
        walked: list[str] = []
        cursor: list[str] = []
        while True:
            page = data_of(run, "activity", "list", "--limit", "2", *cursor)
            walked += [event["event_id"] for event in page["events"]]
            if page["next_cursor"] is None:
                break
            cursor = ["--cursor", page["next_cursor"]]
        assert walked == [event["event_id"] for event in events]
        subject = data_of(run, "activity", "list", "--subject", job_id)["events"]
        assert subject == [job_event, asset_event, usage_event]

        # activity show: one event, or the events of a subject.
        one = expect(run("activity", "show", grant["event_id"], "--json"), 0)
        assert one["command"] == "image-skill activity show"
        assert one["data"]["reference"] == {"id": grant["event_id"], "type": "event"}
        assert one["data"]["event"] == grant and one["data"]["events"] == [grant]
        related = {
            job_id: ("job", [job_event, asset_event, usage_event]),
            asset_id: ("asset", [job_event, asset_event]),
            upload["asset_id"]: ("asset", [uploaded]),
            usage_id: ("usage", [job_event, asset_event, usage_event]),
            failed["trace_id"]: ("trace", [failed_event]),
            feedback_id: ("feedback", [feedback_event]),
            quote["quote_id"]: ("quote", [grant]),
            paid["receipt_id"]: ("receipt", [grant]),
            paid["credit_event_id"]: ("credit_event", [grant]),
        }
        for reference, (kind, expected) in related.items():
            shown = data_of(run, "activity", "show", reference)
            assert shown["reference"] == {"id": reference, "type": kind}
            assert shown["event"] is None and shown["events"] == expected, kind

        # Humans get one line per event: id (what activity show takes), time, type,
        # summary, subject.
        human = run("activity", "list")
        assert human.exit_code == 0 and human.stderr == ""
        lines = human.stdout.strip().splitlines()
        assert len(lines) == len(events)
        for line, event in zip(lines, events, strict=True):
            assert line.startswith(f"{event['event_id']}  {event['occurred_at']}  ")
            assert event["type"] in line and event["summary"] in line
            assert event["subject"]["id"] in line
        more = run("activity", "list", "--limit", "1").stdout
        assert f"--cursor {events[0]['event_id']}" in more
        shown_human = run("activity", "show", job_id)
        assert shown_human.exit_code == 0 and len(shown_human.stdout.strip().splitlines()) == 3

        # Another organization sees none of it; unknown and malformed references.
        other = cli_sign_up(
            run, server.base_url, email="other@example.com", name="other-bot", save=False
        )
        as_other = ("--api-base-url", server.base_url, "--token-stdin", "--json")
        for reference in (job_id, grant["event_id"], asset_id):
            result = run("activity", "show", reference, *as_other, stdin=other.token + "\n")
            expect(result, 1, "NOT_FOUND")
        theirs = expect(run("activity", "list", *as_other, stdin=other.token + "\n"), 0)
        assert theirs["data"]["events"] == []
        expect(run("activity", "show", "job_doesnotexist", "--json"), 1, "NOT_FOUND")
        expect(run("activity", "show", "not-a-reference", "--json"), 2, "INVALID_ARGUMENTS")
        expect(run("activity", "list", "--subject", "bogus", "--json"), 2, "INVALID_ARGUMENTS")
        expect(run("activity", "list", "--cursor", "bogus", "--json"), 2, "INVALID_ARGUMENTS")


def test_activity_usage_errors_need_no_service(run: RunCli) -> None:
    bare = expect(run("activity", "--json"), 2, "INVALID_ARGUMENTS")
    assert bare["command"] == "image-skill activity"
    assert "list, show" in bare["error"]["message"]
    missing = expect(run("activity", "show", "--json"), 2, "INVALID_ARGUMENTS")
    assert missing["error"]["recovery"] == {"required_flag": "REFERENCE"}
    for bad in ("0", "101"):
        expect(run("activity", "list", "--limit", bad, "--json"), 2, "INVALID_ARGUMENTS")
    expect(run("activity", "list", "--bogus", "--json"), 2, "INVALID_ARGUMENTS")


def test_activity_in_embedded_mode(run: RunCli) -> None:
    created = expect(run("create", "--prompt", PROMPT, "--json"), 0)["data"]
    events = data_of(run, "activity", "list")["events"]
    assert [e["type"] for e in events] == [
        "job.completed",
        "asset.created",
        "usage.credit_consumed",
    ]
    assert events[0]["subject"] == {"type": "job", "id": created["job_id"]}
    human = run("activity", "show", created["assets"][0]["asset_id"])
    assert human.exit_code == 0
    assert re.fullmatch(
        r"evt_\S+  \S+Z  job\.completed .*\n"
        r"evt_\S+  \S+Z  asset\.created .*\(asset image_\S+\)\n",
        human.stdout,
    )
