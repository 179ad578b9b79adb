"""Metrics that no client can inflate, and ``/metrics`` behind a token when one is set.

Before the closed label sets, 5,000 requests with invented HTTP methods left
110,909 lines in ``/metrics``: every method name became a new series.
"""

from __future__ import annotations

import http.client
import random
import string
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from image_skill.service.telemetry.metrics import error_label, method_label, status_label
from tests.support.servers import Server, start_server, stop_server

METRICS_TOKEN = "metrics-" + "s3cret" * 6


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp("metrics-labels")
    running = start_server(f"sqlite:///{workdir / 'test.db'}", workdir)
    yield running
    stop_server(running)


def metrics_lines(base_url: str, headers: dict[str, str] | None = None) -> list[str]:
    response = httpx.get(base_url + "/metrics", headers=headers, timeout=30)
    assert response.status_code == 200, response.text[:300]
    return response.text.splitlines()


def invented_methods(count: int) -> list[str]:
    rng = random.Random(10)
    return ["X" + "".join(rng.choices(string.ascii_uppercase, k=11)) for _ in range(count)]


def send_all(base_url: str, requests: list[tuple[str, str]]) -> None:
    """Send ``(method, path)`` requests over one keep-alive connection (reopened if closed)."""
    url = urlsplit(base_url)
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=30)
    try:
        for method, path in requests:
            try:
                connection.request(method, path)
                response = connection.getresponse()
            except (ConnectionError, http.client.HTTPException):
                connection.close()
                connection.request(method, path)
                response = connection.getresponse()
            response.read()
            assert response.status < 500, (method, path, response.status)
    finally:
        connection.close()


def test_invented_methods_and_paths_add_no_series(server: Server) -> None:
    methods = invented_methods(200)
    paths = ["/v1/models", "/v1/whoami", "/v1/jobs/job_01abc", "/made/up/path"]
    send_all(server.base_url, [("GET", path) for path in paths])  # the normal series
    before = metrics_lines(server.base_url)

    first_round = [(method, paths[i % len(paths)]) for i, method in enumerate(methods)]
    send_all(server.base_url, first_round)
    after_first = metrics_lines(server.base_url)

    rng = random.Random(5)
    rest = [(rng.choice(methods), rng.choice(paths)) for _ in range(4_800)]
    rest += [("GET", f"/nowhere/{i}") for i in range(50)]
    send_all(server.base_url, rest)
    after = metrics_lines(server.base_url)

    print(
        f"\n/metrics lines: {len(before)} before, {len(after_first)} after 200 invented "
        f"methods, {len(after)} after 5,050 requests"
    )
    exposition = "\n".join(after)
    # On httptools (what serve runs when installed) the parser refuses a method it does
    # not know before the app sees it; on h11 it reaches the app and counts as "other".
    # Either way no invented name becomes a label.
    assert not any(method in exposition for method in methods)
    assert "/nowhere/" not in exposition
    # Only the "other" method's series were added, once; repetition adds nothing.
    assert len(after_first) - len(before) < 300
    assert len(after) == len(after_first)


def test_label_values_come_from_closed_sets() -> None:
    assert method_label("GET") == "GET"
    assert method_label("get") == "other"
    assert method_label("PROPFIND") == "other"
    assert status_label(429) == "429"
    assert status_label(418) == "4xx"
    assert status_label(999) == "other"
    assert error_label("RATE_LIMITED") == "RATE_LIMITED"
    assert error_label("MADE_UP_CODE") == "other"
    assert error_label(None) is None


def test_metrics_need_the_token_when_one_is_set(tmp_path: Path) -> None:
    running = start_server(
        f"sqlite:///{tmp_path / 'test.db'}",
        tmp_path,
        {"IMAGE_SKILL_METRICS_TOKEN": METRICS_TOKEN},
    )
    try:
        with httpx.Client(base_url=running.base_url, timeout=30) as client:
            missing = client.get("/metrics")
            assert missing.status_code == 401
            assert missing.headers["x-image-skill-exit-code"] == "3"
            assert missing.json()["error"]["code"] == "AUTH_REQUIRED"
            for wrong in (
                "Bearer nope",
                f"Bearer {METRICS_TOKEN}x",
                f"Basic {METRICS_TOKEN}",
                METRICS_TOKEN,
            ):
                refused = client.get("/metrics", headers={"authorization": wrong})
                assert refused.status_code == 401
                assert refused.json()["error"]["code"] == "AUTH_INVALID"
            lines = metrics_lines(running.base_url, {"authorization": f"Bearer {METRICS_TOKEN}"})
            assert any(line.startswith("image_skill_http_requests_total") for line in lines)
        assert METRICS_TOKEN not in running.log()
    finally:
        stop_server(running)


def test_metrics_are_open_without_a_token(server: Server) -> None:
    assert metrics_lines(server.base_url)
