"""Privacy scan: a real ``image-skill serve`` with telemetry on, driven by the real CLI.

An agent signs up, creates with a distinctive prompt, uploads, edits, reads its
quota and makes failing calls (one of them with a tampered copy of its token).
Then everything the service kept or emitted is searched for the raw token and
the prompt: the server's stdout/stderr (uvicorn at info plus the telemetry
event lines), the spans a fake OTLP collector received, every file under the
server's data directory, and every row of every table of the database. Tokens
may appear only as their keyed hash.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect, text

from image_skill.contract.tokens import hash_token
from image_skill.service.settings import to_async_url, to_sync_url
from tests.fakes.otlp_collector import fake_collector
from tests.support.agents import cli_sign_up
from tests.support.cli import RunCli, checked, expect
from tests.support.images import png_bytes
from tests.support.servers import running_server

PROMPT = "zebra-umbrella-4417 lighthouse"
PROMPT_MARK = "zebra-umbrella-4417"
FILENAME = "holiday-secret-5521.png"
PEPPER = "privacy-scan-pepper-0123456789abcdef"


@pytest.fixture
def run(cli: RunCli) -> RunCli:
    return checked(cli)


def dump_database(database_url: str) -> tuple[str, dict[str, int]]:
    """Every row of every table as text, and the row count of each table."""
    engine = create_engine(to_sync_url(to_async_url(database_url)))
    chunks: list[str] = []
    counts: dict[str, int] = {}
    try:
        with engine.connect() as conn:
            for table in inspect(conn).get_table_names():
                rows = conn.execute(text(f'SELECT * FROM "{table}"')).all()
                counts[table] = len(rows)
                chunks.extend(f"{table}: {tuple(row)!r}" for row in rows)
    finally:
        engine.dispose()
    return "\n".join(chunks), counts


def data_files(root: Path) -> bytes:
    """The bytes of every file under ``root``."""
    return b"\n".join(path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file())


def event_lines(log: str) -> list[dict[str, Any]]:
    """The telemetry event lines in the server's output."""
    found = []
    for line in log.splitlines():
        if line.startswith("{") and '"event":"api.request"' in line:
            found.append(json.loads(line))
    return found


def test_no_token_or_prompt_anywhere_the_service_keeps_data(
    database_url: str, tmp_path: Path, run: RunCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path(FILENAME).write_bytes(png_bytes(48, 32))
    with fake_collector() as collector:
        env = {
            "IMAGE_SKILL_TELEMETRY": "on",
            "IMAGE_SKILL_OTLP_ENDPOINT": collector.url,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "IMAGE_SKILL_TOKEN_PEPPER": PEPPER,
        }
        with running_server(database_url, tmp_path, env) as server:
            agent = cli_sign_up(run, server.base_url)
            token = agent.token
            envelopes = [
                expect(run("create", "--prompt", PROMPT, "--json"), 0),
                uploaded := expect(run("upload", FILENAME, "--json"), 0),
            ]
            asset_id = uploaded["data"]["asset"]["asset_id"]
            envelopes += [
                # local.transform refuses a prompt it cannot read: a failing call with the prompt.
                expect(
                    run("edit", "--input", asset_id, "--prompt", PROMPT, "--json"),
                    2,
                    "INVALID_ARGUMENTS",
                ),
                expect(run("edit", "--input", asset_id, "--prompt", "mirror", "--json"), 0),
                expect(run("quota", "--json"), 0),
                # The unclaimed cap (two jobs a day) is used up: refused, prompt and all.
                expect(run("create", "--prompt", PROMPT, "--json"), 5, "DAILY_JOB_CAP_REACHED"),
                expect(run("jobs", "show", "job_0000000000nothere", "--json"), 1, "NOT_FOUND"),
            ]
            tampered = token[:-1] + ("a" if token[-1] != "a" else "b")
            envelopes.append(
                expect(
                    run("whoami", "--json", env={"IMAGE_SKILL_TOKEN": tampered}), 3, "AUTH_INVALID"
                )
            )
            # Local-only commands never reach the service, so they emit no event.
            for local in (["version"], ["help"], ["auth", "logout"]):
                expect(run(*local, "--json"), 0)
        server_log = server.log()  # the process has exited: everything is flushed
        spans = collector.wait_for(lambda span: True, timeout=5)
        exported = b"".join(collector.requests)

    database, counts = dump_database(database_url)
    files = data_files(tmp_path / "server-data")
    secrets = {
        "the raw token": token,
        "the token's random body": token[6:22],
        "the tampered token": tampered,
        "the prompt": PROMPT,
        "the prompt's marker word": PROMPT_MARK,
    }
    for what, secret in secrets.items():
        assert secret not in server_log, f"{what} is in the server log"
        assert secret.encode() not in exported, f"{what} was exported in a span"
        assert secret not in database, f"{what} is stored in the database"
        assert secret.encode() not in files, f"{what} is in a file under the data directory"

    # The scan looked at real data: tokens are stored as their keyed hash, the activity
    # ledger has the jobs, and every call became one event line and one span.
    assert hash_token(token, PEPPER) in database
    assert counts["activity_events"] > 0 and counts["jobs"] >= 3
    job_id = envelopes[0]["data"]["job_id"]
    assert job_id in database
    events = event_lines(server_log)
    by_trace = {event["trace_id"]: event for event in events}
    assert len(by_trace) == len(events)
    for envelope in envelopes:
        event = by_trace[envelope["trace_id"]]
        assert event["cli_command"] == envelope["command"]
        assert event["status"] == ("ok" if envelope["ok"] else "error")
        assert event["error_code"] == (envelope["error"] or {}).get("code")
    assert by_trace[envelopes[0]["trace_id"]]["job_id"] == job_id
    local_only = {"image-skill version", "image-skill help", "image-skill auth logout"}
    assert not [event for event in events if event["cli_command"] in local_only]
    telemetry_text = "\n".join(json.dumps(event) for event in events)
    assert FILENAME not in telemetry_text and FILENAME.encode() not in exported
    span_traces = {span.attributes.get("image_skill.trace_id") for span in spans}
    assert {envelope["trace_id"] for envelope in envelopes} <= span_traces
