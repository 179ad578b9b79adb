"""Gateway overhead: the same image request direct, through LiteLLM, and through ours.

Run from the repository root (busy machines give noisy figures; say so when you
record them)::

    .venv/bin/python -m bench.gateway [--requests 300] [--rounds 3]
        [--targets direct,litellm,sqlite,postgres] [--edge 64]
    .venv/bin/python -m bench.gateway --tiny        # CI: a few requests, only that it runs

One zero-latency fake OpenAI Images upstream (bench/_upstream.py, raw ASGI on
uvicorn) serves every path, answering a 64x64 PNG (the issue's table) or, with
``--edge 1024``, a PNG of a provider's size (3 MB of JSON); each gateway is one
uvicorn process:

* ``direct``: ``POST /v1/images/generations`` to the upstream itself (the floor);
* ``litellm``: the LiteLLM proxy (``litellm[proxy]``, installed on first use
  into its own venv, bench/.venvs/litellm, git-ignored) routing
  ``model: gpt-image-1-mini`` to the upstream;
* ``sqlite`` / ``postgres``: ``image-skill serve`` on a fresh database (PostgreSQL
  from ``IMAGE_SKILL_TEST_POSTGRES_URL``), ``POST /v1/create`` with
  ``model: openai.gpt-image-1-mini`` (job row, credits, the image stored).

At c=1, 10 and 50 (closed loop, keep-alive connections, bench/_load.py) it
prints p50, the p50 added over direct at c=1, req/s, the server's CPU per request
at c=10, and with LiteLLM in the same run each gateway's ratios to it (added
latency and CPU: lower is better; throughput: higher is better). Every target
runs at once and the load points interleave over ``--rounds`` (default 3; the
medians are printed), so a machine whose speed drifts skews no target alone.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench._load import Result, request_bytes, run_load
from bench._timing import cpu_seconds
from tests.support.burst import signup
from tests.support.databases import PG_URL_ENV, create_pg_database, drop_pg_database
from tests.support.servers import free_port, start_server, stop_server

HOST = "127.0.0.1"
UPSTREAM_KEY = "sk-bench-upstream"
LITELLM_MASTER_KEY = "sk-bench-litellm-master"  # it refuses to start without one
LITELLM_VENV = Path(__file__).parent / ".venvs" / "litellm"
PROMPT = "a lighthouse at dusk"


@dataclass
class Target:
    """One path to measure: where to send which request."""

    name: str
    port: int
    payload: bytes
    pid: int | None = None  # the server process, where we started it


def _wait_http(url: str, process: subprocess.Popen[bytes], log: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited early:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer:\n{log.read_text(errors='replace')[-3000:]}")


@contextmanager
def _process(argv: list[str], health_url: str, workdir: Path, name: str) -> Iterator[int]:
    """The process started and answering on ``health_url``; yields its pid."""
    log = workdir / f"{name}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT)
    try:
        _wait_http(health_url, process, log, 120)
        yield process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _images_payload(port: int, authorization: str) -> bytes:
    body = json.dumps({"model": "gpt-image-1-mini", "prompt": PROMPT}).encode()
    headers = {"Content-Type": "application/json", "Authorization": authorization}
    return request_bytes("POST", HOST, port, "/v1/images/generations", body, headers)


def ensure_litellm() -> Path:
    """The LiteLLM CLI in its own venv, installed on first use."""
    exe = LITELLM_VENV / "bin" / "litellm"
    if not exe.exists():
        print("installing litellm[proxy] into bench/.venvs/litellm ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], check=True)
        pip = str(LITELLM_VENV / "bin" / "pip")
        subprocess.run([pip, "install", "-q", "litellm[proxy]"], check=True)
    return exe


@contextmanager
def litellm(upstream_port: int, workdir: Path) -> Iterator[Target]:
    """The LiteLLM proxy routing gpt-image-1-mini to the upstream."""
    exe = ensure_litellm()
    config = workdir / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        "  - model_name: gpt-image-1-mini\n"
        "    litellm_params:\n"
        "      model: openai/gpt-image-1-mini\n"
        f"      api_base: http://{HOST}:{upstream_port}/v1\n"
        f"      api_key: {UPSTREAM_KEY}\n"
        "general_settings:\n"
        f"  master_key: {LITELLM_MASTER_KEY}\n"
    )
    port = free_port()
    argv = [str(exe), "--config", str(config), "--host", HOST, "--port", str(port)]
    with _process(argv, f"http://{HOST}:{port}/health/liveliness", workdir, "litellm") as pid:
        yield Target("litellm", port, _images_payload(port, f"Bearer {LITELLM_MASTER_KEY}"), pid)


@contextmanager
def ours(
    kind: str, upstream_port: int, workdir: Path, extra_env: dict[str, str] | None = None
) -> Iterator[Target]:
    """``image-skill serve`` on a fresh SQLite or PostgreSQL database (``extra_env``: more
    variables for it, such as a ``PYTHONPATH`` naming another source tree)."""
    admin = os.environ.get(PG_URL_ENV)
    database_url = f"sqlite:///{workdir / 'gateway.db'}"
    if kind == "postgres":
        if not admin:
            raise SystemExit(f"set {PG_URL_ENV} for the PostgreSQL target")
        database_url = create_pg_database(admin)
    env = {
        "OPENAI_API_KEY": UPSTREAM_KEY,
        "OPENAI_BASE_URL": f"http://{HOST}:{upstream_port}/v1",
        "IMAGE_SKILL_FREE_PREVIEW_CREDITS": "100000000",
        "IMAGE_SKILL_FREE_PREVIEW_DAILY_CEILING": "1000000000",
        "IMAGE_SKILL_DAILY_JOB_CAP_UNCLAIMED": "10000000",
        "IMAGE_SKILL_RATE_LIMITS_ENABLED": "false",
        **(extra_env or {}),
    }
    (workdir / kind).mkdir(parents=True, exist_ok=True)
    server = start_server(database_url, workdir / kind, extra_env=env)
    try:
        token, _actor = signup(server.base_url, f"bench-{kind}")
        port = int(server.base_url.rsplit(":", 1)[1])
        body = json.dumps({"prompt": PROMPT, "model": "openai.gpt-image-1-mini"}).encode()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        payload = request_bytes("POST", HOST, port, "/v1/create", body, headers)
        yield Target(kind, port, payload, server.process.pid)
    finally:
        stop_server(server)
        if kind == "postgres" and admin:
            drop_pg_database(admin, database_url)


@dataclass(frozen=True)
class Figures:
    """One target at one concurrency: median p50 (ms), req/s and server CPU per request
    over the rounds."""

    p50: float
    rps: float
    cpu_ms: float | None


def measure_point(target: Target, level: int, requests: int) -> Result:
    """One load point, with the server's CPU per request where its process is ours to
    read (steadier than req/s on a busy machine)."""
    before = cpu_seconds(target.pid) if target.pid else 0.0
    result = run_load(HOST, target.port, target.payload, requests, level)
    if target.pid:
        result.cpu_ms = (cpu_seconds(target.pid) - before) * 1000 / requests
    bad = {status: n for status, n in result.statuses.items() if status >= 300}
    if bad:
        raise RuntimeError(f"{target.name} c={level}: non-success answers {bad}")
    return result


def measure(
    targets: list[Target], levels: list[int], requests: int, rounds: int
) -> dict[str, dict[int, Figures]]:
    """Every target at every level, ``rounds`` times, the targets' order rotating.

    All targets run at once and each load point is taken next to the same point of
    the others: on a machine whose speed drifts (a shared or virtual one, where the
    same build measured minutes apart differs by tens of percent), only figures
    taken this close together compare.
    """
    for target in targets:  # warm up
        run_load(HOST, target.port, target.payload, max(5, requests // 20), 1)
    runs: dict[tuple[str, int], list[Result]] = {}
    for round_ in range(rounds):
        for level in levels:
            shift = round_ % len(targets)
            for target in targets[shift:] + targets[:shift]:
                result = measure_point(target, level, requests)
                runs.setdefault((target.name, level), []).append(result)
    table: dict[str, dict[int, Figures]] = {}
    for (name, level), results in runs.items():
        cpu = [r.cpu_ms for r in results if r.cpu_ms is not None]
        table.setdefault(name, {})[level] = Figures(
            statistics.median(r.p50 for r in results),
            statistics.median(r.rps for r in results),
            statistics.median(cpu) if cpu else None,
        )
    return table


def report(table: dict[str, dict[int, Figures]], levels: list[int], note: str) -> None:
    """The table, then the ratios to LiteLLM when it ran."""
    floor = table["direct"][levels[0]].p50 if "direct" in table else 0.0
    print(f"\n{note}; added p50 = p50 at c={levels[0]} minus direct's")
    header = f"{'path':<9} {'added p50 c=' + str(levels[0]):>16}"
    header += "".join(f" {'req/s c=' + str(level):>12}" for level in levels)
    busy = levels[1]
    print(header + f" {'cpu/req c=' + str(busy):>14}")
    for name, figures in table.items():
        line = f"{name:<9} {figures[levels[0]].p50 - floor:13.1f} ms"
        line += "".join(f" {figures[level].rps:12.0f}" for level in levels)
        cpu = figures[busy].cpu_ms
        print(line + (f" {cpu:11.2f} ms" if cpu is not None else f" {'-':>14}"))
    if "litellm" not in table:
        return
    peer = table["litellm"]
    peer_added = max(peer[levels[0]].p50 - floor, 0.001)
    for name in ("sqlite", "postgres"):
        if name not in table:
            continue
        ours_ = table[name]
        ratios = f"{name}/litellm: added p50 {(ours_[levels[0]].p50 - floor) / peer_added:.2f}x"
        ratios += "".join(
            f", req/s c={level} {ours_[level].rps / peer[level].rps:.2f}x" for level in levels[1:]
        )
        mine, theirs = ours_[busy].cpu_ms, peer[busy].cpu_ms
        if mine and theirs:
            ratios += f", cpu/req c={busy} {mine / theirs:.2f}x"
        print(ratios)


def main() -> None:
    """Parse the options, start the upstream and every target, measure, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per load point")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; medians are printed")
    parser.add_argument("--targets", default="direct,litellm,sqlite,postgres")
    parser.add_argument("--tiny", action="store_true", help="CI: 10 requests, c=1/4, no LiteLLM")
    parser.add_argument(
        "--edge",
        type=int,
        default=64,
        help="the upstream's image, px square (64: the issue's table; 1024: a provider's size)",
    )
    args = parser.parse_args()
    names = args.targets.split(",")
    levels = [1, 10, 50]
    if args.tiny:
        args.requests, args.rounds, levels = 10, 1, [1, 4]
        names = [name for name in names if name != "litellm"]
        if not os.environ.get(PG_URL_ENV):
            names = [name for name in names if name != "postgres"]
    workdir = Path(tempfile.mkdtemp(prefix="isk-bench-gateway-"))
    upstream_port = free_port()
    upstream = [sys.executable, "-m", "bench._upstream", str(upstream_port), str(args.edge)]
    with ExitStack() as stack:
        stack.enter_context(_process(upstream, f"http://{HOST}:{upstream_port}/", workdir, "up"))
        targets = []
        for name in names:
            print(f"starting {name} ...", flush=True)
            if name == "direct":
                payload = _images_payload(upstream_port, "Bearer x")
                targets.append(Target(name, upstream_port, payload))
            elif name == "litellm":
                targets.append(stack.enter_context(litellm(upstream_port, workdir)))
            else:
                targets.append(stack.enter_context(ours(name, upstream_port, workdir)))
        print(f"measuring {len(targets)} targets x {args.rounds} rounds ...", flush=True)
        table = measure(targets, levels, args.requests, args.rounds)
    report(
        table,
        levels,
        f"{args.requests} requests per point, medians of {args.rounds} rounds, "
        f"{args.edge} px images",
    )


if __name__ == "__main__":
    main()
