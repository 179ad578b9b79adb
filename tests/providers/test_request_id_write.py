"""A create through a non-resumable adapter is two write transactions.

OpenAI's request id arrives with its answer, so no re-queued job could resume
from it: it is written with the job's completion instead of in a transaction
of its own (``creative/execute.py``). On the in-process SQLite service every
write transaction begins ``BEGIN IMMEDIATE``: the admission (which also claims
the job for the process's free slot, ``jobs/run_slot.py``) and the completion.
The id must still land on the job row.
"""

from __future__ import annotations

import warnings

from tests.fakes.openai_api import FakeImagesAPI, adapter_fixtures
from tests.support.statements import statement_log

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

KEY = "sk-test-OPENAI-SECRET-never-shown"

fake, upstream_timeout, api, headers = adapter_fixtures(KEY, "OPENAI_API_KEY", "OPENAI_BASE_URL")


def test_the_request_id_rides_on_the_completion(
    api: TestClient, headers: dict[str, str], fake: FakeImagesAPI
) -> None:
    body = {"prompt": "a lighthouse at dusk", "model": "openai.gpt-image-1-mini"}
    with statement_log() as log:
        response = api.post("/v1/create", json=body, headers=headers)
    assert response.status_code == 201, response.text
    assert len(fake.requests) == 1
    writes = [s for s in log.statements if s.sql.strip().upper() == "BEGIN IMMEDIATE"]
    assert len(writes) == 2, [s.sql[:60] for s in log.statements]
    recorded = [
        s
        for s in log.statements
        if s.verb == "UPDATE" and "provider_request_id" in s.sql and "status" in s.sql
    ]
    assert len(recorded) == 1, "the id is written by the completing UPDATE"
    assert "req_fake_1" in recorded[0].parameters
