"""Media download: our ``/a/<asset>.<ext>`` against Debian's nginx serving the same file.

Run from the repository root (``apt-get install -y nginx`` if it is missing)::

    .venv/bin/python -m bench.media [--requests 200] [--mb 5] [--rounds 1]
    .venv/bin/python -m bench.media --tiny      # CI: a few requests, only that it runs

Starts ``image-skill serve`` on SQLite, uploads an incompressible PNG of about
``--mb`` MB, fetches its signed media URL once, and puts exactly those bytes
under a one-worker nginx (``sendfile on``) on another port. Then, at c=1 and
c=10 (closed loop, keep-alive, bench/_load.py), prints requests and MB per
second for each, our throughput as a ratio of nginx's, and the CPU each server
process spent per request (from /proc: on a shared machine it moves far less
than throughput does). ``--rounds N`` repeats every point N times, nginx and
ours alternating, and ends with the medians.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bench._images import noise_png, upload_body
from bench._load import Result, request_bytes, run_load
from bench._timing import cpu_seconds
from tests.support.burst import signup
from tests.support.servers import free_port, start_server, stop_server

HOST = "127.0.0.1"
NGINX_CONF = """\
daemon off;
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/nginx-error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    types {{ image/png png; }}
    client_body_temp_path {root}/tmp;
    proxy_temp_path {root}/tmp;
    fastcgi_temp_path {root}/tmp;
    uwsgi_temp_path {root}/tmp;
    scgi_temp_path {root}/tmp;
    server {{
        listen {host}:{port};
        root {root}/www;
    }}
}}
"""


def upload(base_url: str, token: str, data: bytes) -> str:
    """Upload ``data``; the asset's signed media URL."""
    request = urllib.request.Request(
        base_url + "/v1/upload",
        data=upload_body(data),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return str(json.loads(response.read())["data"]["asset"]["url"])


def nginx_worker(master: int) -> int:
    """The pid of the one worker of an nginx master (it does the serving)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.05)
    raise RuntimeError("nginx started no worker")


@dataclass
class Target:
    """One server under test: where to send the GET, and whose CPU to count."""

    port: int
    path: str
    pid: int


@dataclass
class Point:
    """One load point's figures."""

    rps: float
    cpu_ms: float


@contextmanager
def nginx(root: Path, content: bytes) -> Iterator[Target]:
    """nginx serving ``content`` as /bench.png."""
    exe = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(exe).exists():
        raise SystemExit("nginx is missing (Debian: apt-get install -y nginx)")
    (root / "www").mkdir(parents=True)
    (root / "tmp").mkdir()
    (root / "www" / "bench.png").write_bytes(content)
    port = free_port()
    conf = root / "nginx.conf"
    conf.write_text(NGINX_CONF.format(root=root, host=HOST, port=port))
    process = subprocess.Popen([exe, "-c", str(conf), "-p", str(root)], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://{HOST}:{port}/bench.png", timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        yield Target(port, "/bench.png", nginx_worker(process.pid))
    finally:
        process.terminate()
        process.wait(timeout=10)


def point(target: Target, total: int, concurrency: int, size: int) -> Point:
    """One load point of GETs; checks every answer was the whole file."""
    payload = request_bytes("GET", HOST, target.port, target.path)
    before = cpu_seconds(target.pid)
    result: Result = run_load(HOST, target.port, payload, total, concurrency)
    cpu_ms = (cpu_seconds(target.pid) - before) * 1000 / total
    if result.statuses != {200: total} or result.body_bytes != total * size:
        raise RuntimeError(f"{target.path}: {result.statuses}, {result.body_bytes} bytes")
    return Point(result.rps, cpu_ms)


def line(label: str, peer: Point, mine: Point, size: int) -> str:
    """One printed row: both servers' throughput and CPU, and the ratio."""
    return (
        f"{label:<8} nginx {peer.rps:7.1f} req/s {peer.rps * size / 1e6:8.1f} MB/s"
        f" {peer.cpu_ms:5.2f} ms cpu/req | ours {mine.rps:7.1f} req/s"
        f" {mine.rps * size / 1e6:8.1f} MB/s {mine.cpu_ms:5.2f} ms cpu/req"
        f" | ours/nginx {mine.rps / peer.rps:.2f}x"
    )


def median(points: list[Point]) -> Point:
    """The median of each figure over rounds."""
    return Point(
        statistics.median(p.rps for p in points), statistics.median(p.cpu_ms for p in points)
    )


def main() -> None:
    """Upload, serve the same bytes from nginx, measure both, print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per load point")
    parser.add_argument("--mb", type=float, default=5.0, help="asset size in MB")
    parser.add_argument("--rounds", type=int, default=1, help="repeat each point, alternating")
    parser.add_argument("--tiny", action="store_true", help="CI: 5 requests of a 1 MB asset")
    args = parser.parse_args()
    if args.tiny:
        args.requests, args.mb, args.rounds = 5, 1.0, 1
    workdir = Path(tempfile.mkdtemp(prefix="isk-bench-media-"))
    workdir.chmod(0o755)  # nginx's workers run as an unprivileged user
    # The per-IP limit (1200/minute) would refuse a run of several rounds; it is
    # raised, not disabled, so the limiter's own cost stays in the figures.
    limits = {"IMAGE_SKILL_RATE_LIMIT_PER_IP": "1000000/minute"}
    server = start_server(f"sqlite:///{workdir / 'media.db'}", workdir, extra_env=limits)
    try:
        token, _actor = signup(server.base_url, "bench-media")
        url = upload(server.base_url, token, noise_png(int(args.mb * 1_000_000)))
        with urllib.request.urlopen(url, timeout=60) as response:
            content = response.read()
        parts = urlsplit(url)
        ours = Target(
            int(server.base_url.rsplit(":", 1)[1]),
            f"{parts.path}?{parts.query}",
            server.process.pid,
        )
        size = len(content)
        print(f"asset {size / 1e6:.2f} MB, {args.requests} requests per point")
        with nginx(workdir / "nginx", content) as peer_target:
            for level in (1, 10):
                peers: list[Point] = []
                mine: list[Point] = []
                for _ in range(args.rounds):
                    peers.append(point(peer_target, args.requests, level, size))
                    mine.append(point(ours, args.requests, level, size))
                    print(line(f"c={level}", peers[-1], mine[-1], size))
                if args.rounds > 1:
                    print(line(f"c={level} med", median(peers), median(mine), size))
    finally:
        stop_server(server)


if __name__ == "__main__":
    main()
