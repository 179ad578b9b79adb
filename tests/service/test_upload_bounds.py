"""Hostile uploads cannot amplify memory or CPU, and unclaimed agents' uploads are capped.

The GIF amplification finding: a ~5-10 KB GIF of 199 one-pixel frames on a
1000x1000 canvas decodes to 199 full canvases. It used to cost ~800 MB of
server memory and seconds of CPU per upload (with a comment extension forcing a
re-encode), and eight at once blocked every tenant's creates. These tests
upload it to a real ``image-skill serve`` and read the server's memory from
/proc.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.hostile_images import canvas_bomb_gif
from tests.support.agents import sign_up
from tests.support.apps import started_app
from tests.support.envelopes import check_error, ok
from tests.support.images import png, upload_body
from tests.support.servers import Server

MB = 1024 * 1024


def proc_status_kb(pid: int, field: str) -> int:
    """A ``VmRSS``/``VmHWM`` figure of process ``pid`` in KB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


def call(
    server: Server, method: str, path: str, body: Any = None, token: str | None = None
) -> tuple[int, dict[str, Any]]:
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(server.base_url + path, data, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def signup(server: Server, name: str) -> str:
    body = {"human_email": "h@example.com", "agent_name": name, "runtime": "pytest"}
    status, envelope = call(server, "POST", "/v1/agent-signups", {**body, "return_token": True})
    assert status in (200, 201), envelope
    return str(envelope["data"]["token"])


def gif_upload(data: bytes) -> dict[str, Any]:
    return upload_body(data, filename="bomb.gif", mime_type="image/gif")


def refused_upload(server: Server, token: str, data: bytes) -> dict[str, Any]:
    status, envelope = call(server, "POST", "/v1/upload", gif_upload(data), token)
    assert status == 422, envelope
    error: dict[str, Any] = envelope["error"]
    assert error["code"] == "INPUT_POLICY_DENIED"
    return error


def test_gif_amplification_is_refused_with_bounded_memory(server: Server) -> None:
    token = signup(server, "bomber")
    pid = server.process.pid
    cases = {
        # 199 Mpx declared: refused from the headers, before any frame is decoded.
        "199 frames": canvas_bomb_gif(199, 1000),
        # 119 Mpx (under the total) with metadata: the re-encode may hold only one large
        # picture's worth (40 Mpx), so it stops at the 41st frame.
        "119 frames": canvas_bomb_gif(119, 1000),
    }
    figures = []
    for label, data in cases.items():
        before = proc_status_kb(pid, "VmRSS")
        started = time.monotonic()
        error = refused_upload(server, token, data)
        elapsed = time.monotonic() - started
        growth_mb = (proc_status_kb(pid, "VmHWM") - before) / 1024
        figures.append(
            f"{label} ({len(data)} bytes): {error['details']['rule']}, "
            f"peak RSS growth {growth_mb:.0f} MB, {elapsed:.2f} s"
        )
        assert error["details"]["rule"] == "upload.too_many_pixels", error
        assert growth_mb < 300, figures
    print("\n" + "\n".join(figures))
    assert "120000000" in refused_upload(server, token, cases["199 frames"])["message"]


@pytest.mark.serial
def test_eight_bombs_do_not_hold_up_another_tenants_create(server: Server) -> None:
    bombers = [signup(server, f"bomber-{i}") for i in range(8)]
    bystander = signup(server, "bystander")
    bombs = [canvas_bomb_gif(199, 1000), canvas_bomb_gif(119, 1000)]
    outcomes: list[int] = []
    lock = threading.Lock()

    def bomb(token: str, rounds: int) -> None:
        for index in range(rounds):
            status, _ = call(server, "POST", "/v1/upload", gif_upload(bombs[index % 2]), token)
            with lock:
                outcomes.append(status)

    threads = [threading.Thread(target=bomb, args=(token, 4)) for token in bombers]
    before = proc_status_kb(server.process.pid, "VmRSS")
    for thread in threads:
        thread.start()
    time.sleep(0.2)  # the uploads are in flight
    started = time.monotonic()
    status, envelope = call(server, "POST", "/v1/create", {"prompt": "a small boat"}, bystander)
    create_seconds = time.monotonic() - started
    for thread in threads:
        thread.join(timeout=120)
    growth_mb = (proc_status_kb(server.process.pid, "VmHWM") - before) / 1024
    print(
        f"\ncreate during 32 bomb uploads: {create_seconds:.2f} s; "
        f"server peak RSS growth {growth_mb:.0f} MB"
    )
    assert status in (200, 201), envelope
    assert create_seconds < 2.0
    assert outcomes == [422] * 32
    assert growth_mb < 600  # at most image_decode_concurrency (2) decodes hold memory at once


def test_unclaimed_agents_have_a_daily_upload_cap(database_url: str, tmp_path: Path) -> None:
    with started_app(database_url, tmp_path / "home", daily_upload_cap_unclaimed=2) as client:
        agent, other = sign_up(client), sign_up(client, name="other")
        assert agent.quota()["uploads"] == {
            "daily_cap": 2,
            "used_today": 0,
            "remaining_today": 2,
            "window": "utc_day",
            "resets_at": agent.quota()["jobs"]["resets_at"],
        }
        first = png(8, 8, (1, 2, 3))
        ok(agent.upload(first))
        ok(agent.upload(png(8, 8, (4, 5, 6))))
        for data in (png(8, 8, (7, 8, 9)), first):  # a repeat is refused too: no decode
            response = agent.upload(data)
            error = check_error(response, "DAILY_JOB_CAP_REACHED", 5)
            assert response.status_code == 429
            assert 0 < error["recovery"]["retry_after_seconds"] <= 86_400
            assert error["details"]["limit"] == "daily_upload_cap"
            assert "2 uploads" in error["message"]
        quota = agent.quota()
        assert (quota["uploads"]["used_today"], quota["uploads"]["remaining_today"]) == (2, 0)
        assert quota["jobs"]["used_today"] == 0  # uploads are not creative jobs
        ok(other.upload(first))  # another agent's count is its own


def test_decode_pool_is_sized_from_settings(database_url: str, tmp_path: Path) -> None:
    with started_app(database_url, tmp_path / "home", image_decode_concurrency=3) as client:
        assert client.app.state.runtime.decode_pool.total_tokens == 3  # type: ignore[attr-defined]
