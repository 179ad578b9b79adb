"""Media download: our ``/a/<asset>.<ext>`` against Debian's nginx serving the same file.

Run from the repository root (``apt-get install -y nginx`` if it is missing)::

    .venv/bin/python -m bench.media [--requests 200] [--mb 5]
    .venv/bin/python -m bench.media --tiny      # CI: a few requests, only that it runs

Starts ``image-skill serve`` on SQLite, uploads an incompressible PNG of about
``--mb`` MB, fetches its signed media URL once, and puts exactly those bytes
under a one-worker nginx (``sendfile on``) on another port. Then, at c=1 and
c=10 (closed loop, keep-alive, bench/_load.py), prints requests and MB per
second for each and our throughput as a ratio of nginx's.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from bench._images import noise_png, upload_body
from bench._load import Result, request_bytes, run_load
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


@contextmanager
def nginx(root: Path, content: bytes) -> Iterator[tuple[int, str]]:
    """nginx serving ``content`` as /bench.png; (port, path)."""
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
        yield port, "/bench.png"
    finally:
        process.terminate()
        process.wait(timeout=10)


def point(port: int, path: str, total: int, concurrency: int, size: int) -> Result:
    """One load point of GETs; checks every answer was the whole file."""
    result = run_load(HOST, port, request_bytes("GET", HOST, port, path), total, concurrency)
    if result.statuses != {200: total} or result.body_bytes != total * size:
        raise RuntimeError(f"{path}: {result.statuses}, {result.body_bytes} bytes")
    return result


def main() -> None:
    """Upload, serve the same bytes from nginx, measure both, print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--requests", type=int, default=200, help="requests per load point")
    parser.add_argument("--mb", type=float, default=5.0, help="asset size in MB")
    parser.add_argument("--tiny", action="store_true", help="CI: 5 requests of a 1 MB asset")
    args = parser.parse_args()
    if args.tiny:
        args.requests, args.mb = 5, 1.0
    workdir = Path(tempfile.mkdtemp(prefix="isk-bench-media-"))
    workdir.chmod(0o755)  # nginx's workers run as an unprivileged user
    server = start_server(f"sqlite:///{workdir / 'media.db'}", workdir)
    try:
        token, _actor = signup(server.base_url, "bench-media")
        url = upload(server.base_url, token, noise_png(int(args.mb * 1_000_000)))
        with urllib.request.urlopen(url, timeout=60) as response:
            content = response.read()
        parts = urlsplit(url)
        ours_path = f"{parts.path}?{parts.query}"
        ours_port = int(server.base_url.rsplit(":", 1)[1])
        size = len(content)
        print(f"asset {size / 1e6:.2f} MB, {args.requests} requests per point")
        with nginx(workdir / "nginx", content) as (nginx_port, nginx_path):
            for level in (1, 10):
                peer = point(nginx_port, nginx_path, args.requests, level, size)
                mine = point(ours_port, ours_path, args.requests, level, size)
                print(
                    f"c={level:<3} nginx {peer.rps:7.1f} req/s {peer.rps * size / 1e6:8.1f} MB/s"
                    f" | ours {mine.rps:7.1f} req/s {mine.rps * size / 1e6:8.1f} MB/s"
                    f" | ours/nginx {mine.rps / peer.rps:.2f}x"
                )
    finally:
        stop_server(server)


if __name__ == "__main__":
    main()
