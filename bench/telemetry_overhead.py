"""What telemetry costs a request: ``GET /healthz`` p50 through TestClient.

Run from the repository root: ``.venv/bin/python -m bench.telemetry_overhead``.
Four apps on one SQLite file, measured interleaved (round-robin, so drift hits all
alike): without the telemetry middleware at all, ``IMAGE_SKILL_TELEMETRY=off`` (metrics only),
``on`` (metrics + one JSON line to a log file, as embedded mode writes
``service.log``), and ``on`` with OTLP trace export to a local fake collector.
"""

from __future__ import annotations

import logging
import os
import statistics
import tempfile
import time
import warnings
from contextlib import ExitStack
from pathlib import Path

RUNS = int(os.environ.get("BENCH_RUNS", "2000"))


def main() -> None:
    from tests.fakes.otlp_collector import fake_collector

    from image_skill.service.app import create_app
    from image_skill.service.settings import Settings
    from image_skill.service.telemetry.middleware import TelemetryMiddleware

    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

    home = Path(tempfile.mkdtemp(prefix="isk-bench-telemetry-"))
    handler = logging.FileHandler(home / "service.log")
    logging.getLogger("image_skill").addHandler(handler)
    base = {"home": home, "database_url": f"sqlite:///{home / 'bench.db'}", "environment": "test"}

    with ExitStack() as stack:
        collector = stack.enter_context(fake_collector())
        bare = create_app(Settings(**base, telemetry="off"))
        bare.user_middleware = [m for m in bare.user_middleware if m.cls is not TelemetryMiddleware]
        apps = {
            "no telemetry middleware": bare,
            "telemetry off (metrics only)": create_app(Settings(**base, telemetry="off")),
            "telemetry on (metrics + JSON line)": create_app(Settings(**base, telemetry="on")),
            "telemetry on + OTLP export": create_app(
                Settings(**base, telemetry="on", otlp_endpoint=collector.url)
            ),
        }
        clients = {name: stack.enter_context(TestClient(app)) for name, app in apps.items()}
        samples: dict[str, list[float]] = {name: [] for name in clients}
        for client in clients.values():  # warm up
            for _ in range(50):
                client.get("/healthz")
        for _ in range(RUNS):
            for name, client in clients.items():
                start = time.perf_counter()
                response = client.get("/healthz")
                samples[name].append((time.perf_counter() - start) * 1000)
                assert response.status_code == 200
    baseline = statistics.median(samples["no telemetry middleware"])
    print(f"GET /healthz through TestClient, {RUNS} calls each (interleaved)")
    for name, values in samples.items():
        p50 = statistics.median(values)
        p90 = sorted(values)[int(len(values) * 0.9)]
        print(f"  {name:38s} p50 {p50:6.3f} ms  p90 {p90:6.3f} ms  (+{p50 - baseline:.3f} ms)")
    lines = sum(1 for _ in (home / "service.log").open())
    print(f"  event lines written: {lines}; spans received: {len(collector.spans)}")


if __name__ == "__main__":
    main()
