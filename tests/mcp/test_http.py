"""Streamable HTTP at ``/mcp`` on a real ``image-skill serve``, driven by the MCP SDK's client.

The same bearer tokens as the API: no token or a bad one is refused with the
service's envelope before any MCP message is read, and a tool call acts as
exactly its token's agent (another organization's asset is NOT_FOUND).
"""

from __future__ import annotations

import base64
import io
import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import anyio
import pytest
from PIL import Image

from tests.support.images import png, upload_body
from tests.support.mcp_client import call, http_session, links, ok, refused
from tests.support.servers import Server, http_call, running_server

LIST_TOOLS = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}


def sign_up(server: Server, name: str) -> str:
    """A new agent's token (its own organization)."""
    body = {"human_email": f"{name}@example.com", "agent_name": name, "return_token": True}
    status, _headers, raw = http_call(server, "POST", "/v1/agent-signups", body, timeout=30)
    assert status == 201, raw
    token = json.loads(raw)["data"]["token"]
    assert isinstance(token, str)
    return token


def post_mcp(server: Server, token: str | None) -> tuple[int, dict[str, str], dict[str, Any]]:
    """One raw ``tools/list`` POST to /mcp, as an MCP client sends it (JSON answers accepted)."""
    headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    body = json.dumps(LIST_TOOLS).encode()
    request = urllib.request.Request(server.base_url + "/mcp", body, headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, answer, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        status, answer, raw = exc.code, exc.headers, exc.read()
    return status, {k.lower(): v for k, v in answer.items()}, json.loads(raw)


def test_mcp_without_a_valid_token_is_refused_with_the_envelope(server: Server) -> None:
    for token, code in ((None, "AUTH_REQUIRED"), ("isk_r_" + "a" * 38, "AUTH_INVALID")):
        status, headers, envelope = post_mcp(server, token)
        assert status == 401
        assert headers["www-authenticate"].startswith("Bearer")
        assert envelope["ok"] is False and envelope["error"]["code"] == code
        assert envelope["command"] == "image-skill mcp"
    status, headers, raw = http_call(server, "GET", "/mcp", None, timeout=30)
    assert status == 405 and "POST" in headers["allow"]  # no event stream held open
    assert json.loads(raw)["error"]["code"] == "METHOD_NOT_ALLOWED"


def test_the_cli_bridge_never_runs_the_stdio_server(server: Server) -> None:
    token = sign_up(server, "bridge-agent")
    status, _headers, raw = http_call(
        server, "POST", "/v1/cli", {"argv": ["mcp"]}, token, timeout=30
    )
    envelope = json.loads(raw)
    assert status == 400, envelope
    assert envelope["error"]["code"] == "PUBLIC_CLI_COMMAND_NOT_AVAILABLE"
    assert "/mcp" in json.dumps(envelope["error"])


@pytest.mark.slow
def test_http_plans_creates_edits_uploads_and_reads_quota(server: Server) -> None:
    token = sign_up(server, "mcp-agent")
    other = sign_up(server, "other-agent")

    async def flow() -> None:
        async with http_session(server.base_url, token) as client:
            listed = await client.list_tools()
            by_name = {tool.name: tool for tool in listed.tools}
            assert "save_to" not in by_name["get_asset"].input_schema["properties"]
            assert "bytes_base64" in by_name["upload"].input_schema["properties"]

            plan = await ok(client, "plan", {"prompt": "a red fox in snow"})
            assert plan["dry_run"] is True

            made = await call(client, "create", {"prompt": "a red fox", "thumbnail": True})
            assert not made.is_error and made.structured_content is not None
            asset = made.structured_content["assets"][0]
            assert links(made) == [asset["url"]]
            assert asset["url"].startswith(server.base_url + "/a/")
            assert [b.type for b in made.content].count("image") == 1

            edited = await ok(
                client, "edit", {"input_asset_id": asset["asset_id"], "prompt": "mirror"}
            )
            output_id = edited["assets"][0]["asset_id"]
            shown = await ok(client, "get_asset", {"asset_id": output_id})
            assert json.dumps(shown).count(output_id) >= 1

            picture = base64.b64encode(png(64, 48)).decode()
            uploaded = await ok(client, "upload", {"bytes_base64": picture, "filename": "a.png"})
            assert uploaded["asset"]["asset_id"]
            bad = await refused(client, "upload", {"bytes_base64": "%%%not base64"})
            assert bad["code"] == "INVALID_ARGUMENTS"

            quota = await ok(client, "quota", {})
            assert quota["credits"]["balance"] < quota["credits"]["free_preview_granted"]

            error = await refused(client, "create", {"prompt": "x", "model": "no.such-model"})
            assert error["code"] == "MODEL_NOT_FOUND"
            assert error["recovery"]["suggested_command"]

            for tool, arguments in (
                ("list_models", {}),
                ("show_model", {"model_id": "local.sketch"}),
                ("list_jobs", {"limit": 100}),
                ("activity", {"limit": 100}),
                ("job_status", {"job_id": made.structured_content["job_id"]}),
                ("wait_job", {"job_id": made.structured_content["job_id"], "timeout_seconds": 1}),
            ):
                await ok(client, tool, arguments)

            capped = await refused(client, "create", {"prompt": "a third fox"})
            assert capped["code"] == "DAILY_JOB_CAP_REACHED"  # the unclaimed agent's quota
            assert capped["recovery"]["retry_after_seconds"] > 0

        async with http_session(server.base_url, other) as stranger:
            hidden = await refused(stranger, "get_asset", {"asset_id": asset["asset_id"]})
            assert hidden["code"] == "NOT_FOUND"
            queued = await ok(stranger, "create", {"prompt": "a queued fox", "wait": False})
            job_id = queued.get("job_id") or queued["job"]["job_id"]
            waited = await ok(stranger, "wait_job", {"job_id": job_id, "timeout_seconds": 30})
            assert waited["job"]["status"] == "completed"
            cancel = await ok(stranger, "cancel_job", {"job_id": job_id})
            assert cancel["cancel"] == "already_terminal"

    anyio.run(flow)
    assert token not in server.log() and other not in server.log()


def noise_png(width: int, height: int) -> bytes:
    """An incompressible PNG (random pixels): its size is about width * height * 3."""
    buffer = io.BytesIO()
    Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.slow
def test_mcp_uploads_are_bounded_by_the_services_upload_limit(
    database_url: str, tmp_path: Path
) -> None:
    limits = {"IMAGE_SKILL_MAX_UPLOAD_BYTES": "50000"}
    with running_server(database_url, tmp_path, extra_env=limits) as server:
        token = sign_up(server, "upload-agent")
        flood = {**LIST_TOOLS, "params": {"padding": "x" * 200_000}}
        status, _headers, raw = http_call(server, "POST", "/mcp", flood, token, timeout=30)
        assert status == 413 and json.loads(raw)["error"]["code"] == "PAYLOAD_TOO_LARGE"

        big = noise_png(150, 130)  # ~58 KB > 50,000
        _status, _headers, raw = http_call(
            server, "POST", "/v1/upload", upload_body(big), token, timeout=30
        )
        direct = json.loads(raw)["error"]["code"]

        async def flow() -> None:
            async with http_session(server.base_url, token) as client:
                small = base64.b64encode(png(32, 32)).decode()
                assert (await ok(client, "upload", {"bytes_base64": small}))["asset"]
                over = base64.b64encode(big).decode()
                error = await refused(client, "upload", {"bytes_base64": over})
                assert error["code"] == direct  # the service's own refusal, as over the API

        anyio.run(flow)


@pytest.mark.slow
def test_mcp_requests_count_against_the_tokens_rate_limit(
    database_url: str, tmp_path: Path
) -> None:
    limits = {"IMAGE_SKILL_RATE_LIMIT_PER_TOKEN": "6/minute"}
    with running_server(database_url, tmp_path, extra_env=limits) as server:
        token = sign_up(server, "busy-agent")
        answers = [post_mcp(server, token) for _ in range(8)]
        statuses = [status for status, _headers, _body in answers]
        assert 200 in statuses and 429 in statuses, statuses
        _status, headers, envelope = next(a for a in answers if a[0] == 429)
        assert envelope["error"]["code"] == "RATE_LIMITED"
        assert int(headers["retry-after"]) >= 1
        assert "www-authenticate" not in headers
