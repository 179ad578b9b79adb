"""CLI start-up cost: ``--version`` and a hosted-mode command up to the network.

Peer: the 0.1.0 Node client measured ~65 ms for ``--version`` on this machine
(DESIGN.md); it is no longer published, so bare ``node -e 0`` is timed as the
floor any Node client pays. Run from the repository root:
``.venv/bin/python -m bench.cli_startup``.
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import sys
import tempfile
from pathlib import Path

from bench._timing import bench_env, summary, time_command

PEER_VERSION_MS = 65.0
RUNS = int(os.environ.get("BENCH_RUNS", "30"))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    exe = shutil.which("image-skill", path=str(Path(sys.executable).parent)) or "image-skill"
    home = tempfile.mkdtemp(prefix="isk-bench-")
    env = bench_env({"IMAGE_SKILL_HOME": home, "IMAGE_SKILL_CONFIG_PATH": f"{home}/c.json"})
    hosted = [exe, "--api-base-url", f"http://127.0.0.1:{_closed_port()}", "whoami", "--json"]
    rows = [
        ("image-skill --version", time_command([exe, "--version"], RUNS, env)),
        ("image-skill whoami (hosted, to network)", time_command(hosted, RUNS, env)),
    ]
    if shutil.which("node"):
        rows.append(
            ("node -e 0 (floor of any Node CLI)", time_command(["node", "-e", "0"], RUNS, env))
        )
    print(f"CLI start-up, {RUNS} runs each")
    for name, samples in rows:
        print(f"  {name:<42} {summary(samples)}")
    version_p50 = statistics.median(rows[0][1])
    print(
        f"  ratio --version p50 / Node 0.1.0 client ({PEER_VERSION_MS:.0f} ms): "
        f"{version_p50 / PEER_VERSION_MS:.2f}x"
    )


if __name__ == "__main__":
    main()
