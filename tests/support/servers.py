"""Real ``image-skill serve`` processes on loopback, and raw JSON requests to them."""

from __future__ import annotations

import itertools
import json
import os
import random
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.cli import CLI

# Ports handed to test servers come from below Linux's ephemeral range (32768 and
# up, which bind(0) and outgoing connections use), in one band per xdist worker: a
# port released by one worker's free_port() can then never be taken by another
# worker's server before this worker's server binds it (a test once talked to the
# other worker's server, which answered /healthz and knew none of its models).
_FIRST_PORT = 15000
_PORTS_PER_WORKER = 2000
_next_offset = itertools.count(random.randrange(_PORTS_PER_WORKER))


def _worker_band() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    return _FIRST_PORT + (index % 8) * _PORTS_PER_WORKER


def free_port() -> int:
    """A loopback port no one listens on, from this worker's own band."""
    band = _worker_band()
    for _ in range(_PORTS_PER_WORKER):
        port = band + next(_next_offset) % _PORTS_PER_WORKER
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port in {band}..{band + _PORTS_PER_WORKER - 1}")


@dataclass
class Server:
    """A running ``image-skill serve`` process."""

    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        """Everything the server wrote to stdout/stderr."""
        return self.log_path.read_text(errors="replace")


def start_server(
    database_url: str, workdir: Path, extra_env: dict[str, str] | None = None
) -> Server:
    """Start ``image-skill serve`` on a free loopback port and wait until healthy."""
    port = free_port()
    env = dict(os.environ)
    env.update(
        {
            "IMAGE_SKILL_DATABASE_URL": database_url,
            "IMAGE_SKILL_HOME": str(workdir / "server-data"),
            "IMAGE_SKILL_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        }
    )
    env.update(extra_env or {})
    log_path = workdir / f"server-{port}.log"
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        [*CLI, "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "info"],
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(base_url + "/healthz", timeout=1) as response:
                if response.status == 200:
                    return Server(base_url, process, log_path)
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"server did not become healthy:\n{log_path.read_text()}")


def stop_server(server: Server) -> None:
    """Stop a server started by ``start_server``."""
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@contextmanager
def running_server(
    database_url: str, workdir: Path, extra_env: dict[str, str] | None = None
) -> Iterator[Server]:
    """A server for the duration of the block."""
    server = start_server(database_url, workdir, extra_env=extra_env)
    try:
        yield server
    finally:
        stop_server(server)


def http_call(
    server: Server,
    method: str,
    path: str,
    body: Any = None,
    token: str | None = None,
    *,
    timeout: float,
) -> tuple[int, dict[str, str], bytes]:
    """One raw JSON request to ``server`` (as ``token`` if given), HTTP errors included:
    ``(status, lower-cased headers, body bytes)``."""
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(server.base_url + path, data, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, _lower(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, _lower(exc.headers), exc.read()


def _lower(headers: Any) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}
