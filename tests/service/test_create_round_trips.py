"""A create is three transactions; its completion writes its activity in two statements
and answers without reading back.

The admission claims the job for the process's free slot (no claiming transaction).
The completing transaction starts with the job's end, ``usage_event_id`` included:
one UPDATE that checks the job is still this executor's and returns it with its
organization's webhook URL, the balance and today's count. It then writes the
three activity events and their refs as two bulk INSERTs, and hands its
answer to the request waiting in the same process, which then reads nothing of
the job back. That answer is the one the Idempotency-Key replays, and the
activity it recorded is the same as before (types, links, refs).
"""

from __future__ import annotations

import re
import time
import warnings
from collections import Counter

from image_skill.service.jobs.waiter import RECHECK_SECONDS
from tests.fakes.openai_api import FakeImagesAPI, Reply, adapter_fixtures, balance, error_body
from tests.support.statements import statement_log

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

KEY = "sk-test-OPENAI-SECRET-never-shown"
BODY = {"prompt": "a lighthouse at dusk", "model": "openai.gpt-image-1-mini"}
TABLE = re.compile(r"^\s*(?:INSERT INTO|UPDATE|DELETE FROM)\s+(\w+)")

fake, upstream_timeout, api, headers = adapter_fixtures(KEY, "OPENAI_API_KEY", "OPENAI_BASE_URL")


def test_a_create_completes_in_few_statements_and_replays_the_same(
    api: TestClient, headers: dict[str, str], fake: FakeImagesAPI
) -> None:
    sent = {**headers, "Idempotency-Key": "round-trips-1"}
    with statement_log() as log:
        response = api.post("/v1/create", json=BODY, headers=sent)
    assert response.status_code == 201, response.text
    writes: Counter[str] = Counter()
    for statement in log.statements:
        found = TABLE.match(statement.sql)
        if found:
            writes[f"{statement.verb} {found.group(1)}"] += 1
    assert writes["INSERT activity_events"] == 1, writes
    assert writes["INSERT activity_refs"] == 1, writes
    job_updates = [s.sql for s in log.statements if TABLE.match(s.sql) and " jobs " in s.sql[:12]]
    # Only the completion: the admission claimed the job for this process's free slot
    # (jobs/run_slot.py), so no claiming transaction reads and updates it first.
    assert len(job_updates) == 1, job_updates
    assert "usage_event_id" in job_updates[0] and "status" in job_updates[0]
    # The auth read, the key's replay check, the admission and the completion.
    assert log.commits == 4, log.commits
    # The request answered with the settled answer: no read of the job's assets back.
    reads = [s.sql for s in log.statements if s.verb == "SELECT" and "FROM assets" in s.sql]
    assert reads == [], reads
    # The completing UPDATE is also the completion's first statement: it returns the
    # job, its organization's webhook URL and the quota the answer reports; no read of
    # the job, the webhook settings or the quota has a statement of its own.
    [webhook] = [s for s in log.statements if "webhook_endpoints" in s.sql]
    assert webhook.sql == job_updates[0]
    quota = [s.verb for s in log.statements if "daily_job_counts" in s.sql]
    assert quota == ["SELECT", "UPDATE"], quota  # the admission's check, the completion
    completion = log.statements.index(webhook)
    assert not [s.sql for s in log.statements[completion:] if "FROM jobs" in s.sql]
    answer = response.json()["data"]
    assert answer["quota"]["balance_after"] == balance(api, headers)
    assert answer["quota"]["used_today"] == 1

    replayed = api.post("/v1/create", json=BODY, headers=sent)
    assert replayed.status_code == 201, replayed.text
    assert replayed.json()["data"] == answer
    assert len(fake.requests) == 1

    job_id = answer["job_id"]
    shown = api.get(f"/v1/activity?subject={job_id}", headers=headers)
    assert shown.status_code == 200, shown.text
    events = shown.json()["data"]["events"]
    assert [event["type"] for event in events] == [
        "job.completed",
        "asset.created",
        "usage.credit_consumed",
    ]
    usage_id = events[0]["links"]["usage_event_id"]
    assert usage_id and all(event["links"]["usage_event_id"] == usage_id for event in events)
    assert events[0]["links"]["asset_ids"] == [asset["asset_id"] for asset in answer["assets"]]


def test_a_failed_job_answers_at_once_and_spends_nothing(
    api: TestClient, headers: dict[str, str], fake: FakeImagesAPI
) -> None:
    before = balance(api, headers)
    refusal = error_body("Your request was rejected.", "invalid_request_error", None)
    fake.queue(Reply(400, refusal))
    started = time.monotonic()
    response = api.post("/v1/create", json=BODY, headers=headers)
    elapsed = time.monotonic() - started
    assert response.status_code >= 400, response.text
    assert response.json()["ok"] is False
    # The waiter learns the end from the hand-over, not from its periodic re-read.
    assert elapsed < RECHECK_SECONDS, elapsed
    assert balance(api, headers) == before
