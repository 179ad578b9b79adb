"""Upload memory: peak RSS growth of the server while it takes one large upload.

Run from the repository root::

    .venv/bin/python -m bench.upload_memory [--mb 25]
    .venv/bin/python -m bench.upload_memory --tiny     # CI: a 1 MB upload, only that it runs

Starts ``image-skill serve`` on SQLite (its upload limit raised to fit the
payload when the payload is over the default), warms it with a small upload,
then resets the kernel's peak-RSS mark (``/proc/PID/clear_refs``; Linux only),
sends one incompressible PNG of about ``--mb`` MB and reads the new peak
(``VmHWM``). Prints the growth over the resident size before the upload, and
that growth as a multiple of the payload (the target is under 3x).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import urllib.request
from pathlib import Path

from bench._images import noise_png, upload_body
from tests.support.burst import signup
from tests.support.servers import start_server, stop_server

DEFAULT_LIMIT = 20 * 1024 * 1024


def status_kb(pid: int, field: str) -> int:
    """A ``/proc/PID/status`` figure in kB (VmRSS, VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


def send(base_url: str, token: str, body: bytes) -> int:
    """POST /v1/upload; the HTTP status."""
    request = urllib.request.Request(
        base_url + "/v1/upload",
        data=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=300) as response:
        return int(response.status)


def main() -> None:
    """Warm up, reset the peak, upload once, print the growth."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mb", type=float, default=25.0, help="payload size in MB")
    parser.add_argument("--tiny", action="store_true", help="CI: a 1 MB upload")
    args = parser.parse_args()
    if args.tiny:
        args.mb = 1.0
    payload = noise_png(int(args.mb * 1_000_000))
    body = upload_body(payload)
    limit = max(DEFAULT_LIMIT, len(payload) + 1024 * 1024)
    workdir = Path(tempfile.mkdtemp(prefix="isk-bench-upload-"))
    env = {"IMAGE_SKILL_MAX_UPLOAD_BYTES": str(limit)}
    server = start_server(f"sqlite:///{workdir / 'upload.db'}", workdir, extra_env=env)
    try:
        pid = server.process.pid
        token, _actor = signup(server.base_url, "bench-upload")
        send(server.base_url, token, upload_body(noise_png(200_000)))  # warm the upload path
        time.sleep(0.5)
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # peak RSS := current RSS
        before = status_kb(pid, "VmRSS")
        started = time.perf_counter()
        status = send(server.base_url, token, body)
        elapsed = time.perf_counter() - started
        growth = (status_kb(pid, "VmHWM") - before) * 1024
    finally:
        stop_server(server)
    mb = len(payload) / 1e6
    print(
        f"upload of {mb:.1f} MB ({len(body) / 1e6:.1f} MB JSON body): HTTP {status} in "
        f"{elapsed:.2f} s; peak RSS growth {growth / 1e6:.1f} MB = "
        f"{growth / len(payload):.2f}x the payload (server limit {limit} bytes)"
    )


if __name__ == "__main__":
    main()
