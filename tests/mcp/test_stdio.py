"""``image-skill mcp`` over stdio, driven by the MCP SDK's own client (embedded service).

The server is the real command in a subprocess with the test's isolated home,
so the service and token are resolved exactly as the CLI resolves them.
"""

from __future__ import annotations

import hashlib
import json
import os
import select
import subprocess
import time
from pathlib import Path

import anyio
import pytest

from tests.support.agents import cli_sign_up
from tests.support.cli import RunCli
from tests.support.images import png, sniff
from tests.support.mcp_client import MCP_COMMAND, call, links, ok, refused, stdio_session
from tests.support.servers import Server

TOOLS = {
    "plan",
    "create",
    "edit",
    "upload",
    "get_asset",
    "list_models",
    "show_model",
    "job_status",
    "list_jobs",
    "wait_job",
    "cancel_job",
    "quota",
    "activity",
    "feedback",
}


@pytest.mark.slow
def test_stdio_plans_creates_edits_saves_and_reads_quota(tmp_path: Path) -> None:
    async def flow() -> None:
        async with stdio_session() as client:
            listed = await client.list_tools()
            by_name = {tool.name: tool for tool in listed.tools}
            assert set(by_name) == TOOLS
            assert all(tool.description for tool in listed.tools)
            assert "save_to" in by_name["get_asset"].input_schema["properties"]
            assert "path" in by_name["upload"].input_schema["properties"]

            plan = await ok(client, "plan", {"prompt": "a lighthouse in fog"})
            assert plan["dry_run"] is True and "cost" in json.dumps(plan)

            made = await call(client, "create", {"prompt": "a lighthouse in fog"})
            assert not made.is_error
            assert made.structured_content is not None
            asset = made.structured_content["assets"][0]
            assert links(made) == [asset["url"]]
            assert not [b for b in made.content if b.type == "image"]  # no image unless asked

            edited = await ok(
                client, "edit", {"input_asset_id": asset["asset_id"], "prompt": "mirror it"}
            )
            output = edited["assets"][0]
            target = tmp_path / "out" / "edited.png"
            saved = await ok(
                client, "get_asset", {"asset_id": output["asset_id"], "save_to": str(target)}
            )
            body = target.read_bytes()
            assert saved["saved"]["sha256"] == hashlib.sha256(body).hexdigest() == output["sha256"]
            assert sniff(body) == "png"

            again = await refused(
                client, "get_asset", {"asset_id": output["asset_id"], "save_to": str(target)}
            )
            assert again["code"] == "OUTPUT_EXISTS"
            assert again["recovery"]["required_flag"] == "--overwrite"

            quota = await ok(client, "quota", {})
            assert "credits" in quota

            error = await refused(client, "create", {"prompt": "x", "model": "no.such-model"})
            assert error["code"] == "MODEL_NOT_FOUND"
            assert error["recovery"]["suggested_command"]

    anyio.run(flow)


@pytest.mark.slow
def test_stdio_uploads_a_local_file_and_thumbnails_only_when_asked(tmp_path: Path) -> None:
    picture = tmp_path / "in.png"
    picture.write_bytes(png(640, 480))
    secret = tmp_path / "secret.txt"
    secret.write_text("not an image")

    async def flow() -> None:
        async with stdio_session() as client:
            uploaded = await ok(client, "upload", {"path": str(picture)})
            asset_id = uploaded["asset"]["asset_id"]
            shown = await call(client, "get_asset", {"asset_id": asset_id, "thumbnail": True})
            assert not shown.is_error
            assert [b.type for b in shown.content].count("image") == 1
            plain = await call(client, "get_asset", {"asset_id": asset_id})
            assert [b.type for b in plain.content].count("image") == 0

            refusal = await refused(client, "upload", {"path": str(secret)})
            assert refusal["code"] == "UPLOAD_MIME_TYPE_UNKNOWN"
            missing = await refused(client, "job_status", {"job_id": "job_nope"})
            assert missing["code"] == "NOT_FOUND"

    anyio.run(flow)


def read_line(process: subprocess.Popen[str], deadline: float) -> str:
    """The next line of the server's stdout, failing the test at ``deadline``."""
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], max(deadline - time.monotonic(), 0))
    assert ready, "the MCP server did not answer in time"
    return process.stdout.readline()


def test_stdio_writes_nothing_but_protocol_on_stdout() -> None:
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "test", "version": "0"},
        },
    }
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}
    process = subprocess.Popen(
        MCP_COMMAND,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    assert process.stdin is not None and process.stdout is not None
    deadline = time.monotonic() + 60
    try:
        answers = []
        for sent in ([initialize], [initialized, listing]):
            process.stdin.write("".join(json.dumps(line) + "\n" for line in sent))
            process.stdin.flush()
            answers.append(json.loads(read_line(process, deadline)))
        process.stdin.close()
        assert process.wait(timeout=30) == 0
        rest = process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert [a.get("id") for a in answers] == [1, 2]
    assert all(a["jsonrpc"] == "2.0" for a in answers)
    assert len(answers[1]["result"]["tools"]) == len(TOOLS)
    assert rest == ""  # nothing after the protocol, not even an envelope
    assert process.stderr is not None and "Traceback" not in process.stderr.read()


@pytest.mark.slow
def test_stdio_resolves_service_and_token_like_the_cli(server: Server, cli: RunCli) -> None:
    agent = cli_sign_up(cli, server.base_url, save=True)  # saved config: this server + token

    async def flow() -> None:
        async with stdio_session() as client:
            quota = await ok(client, "quota", {})
            assert quota["claim_state"] == "unclaimed"
            made = await ok(client, "create", {"prompt": "a lighthouse"})
            assert made["assets"][0]["url"].startswith(server.base_url + "/a/")
        bad = {"IMAGE_SKILL_TOKEN": "isk_r_" + "b" * 38}  # the environment wins over the config
        async with stdio_session(bad) as client:
            error = await refused(client, "quota", {})
            assert error["code"] == "AUTH_INVALID"

    anyio.run(flow)
    assert agent.token not in server.log()
