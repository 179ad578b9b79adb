"""Where a create's CPU goes: a py-spy profile of ``image-skill serve`` under c=10 creates.

Run from the repository root (py-spy is in the dev extra; it needs ptrace rights)::

    .venv/bin/python -m bench.profile_create [sqlite|postgres] [--seconds 15] [--out FILE]
        [--edge 64]

The gateway benchmark's setup (bench/gateway.py: the zero-latency fake upstream,
``image-skill serve`` on a fresh database, ``model: openai.gpt-image-1-mini``);
py-spy samples the server while a closed loop of 10 connections sends creates.
Prints the throughput during the profile, the share of active samples whose stack
passes through a few frames of interest (client construction, the upstream call,
the database, the middleware), and the top self frames. ``--out`` keeps py-spy's
raw collapsed stacks (feed them to any flame graph tool).
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from bench import gateway
from bench._load import run_load

INTEREST = (
    "AsyncOpenAI.__init__",
    "create_ssl_context",
    "AsyncImages.generate",
    "sqlalchemy",
    "aiosqlite",
    "psycopg",
    "asyncpg",
    "admit (",
    "_settle",
    "TelemetryMiddleware",
)
IDLE = ("select (selectors", "wait (threading", "get (queue", "_worker (concurrent")


def shares(raw: Path, top: int = 10) -> list[str]:
    """Lines: the share of active samples through each frame of interest, then top leaves."""
    total = 0
    through: collections.Counter[str] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        leaf = stack.rsplit(";", 1)[-1]
        if any(idle in leaf for idle in IDLE):
            continue
        samples = int(count)
        total += samples
        leaves[leaf.split(":")[0] + ")"] += samples
        for name in INTEREST:
            if name in stack:
                through[name] += samples
    total = max(total, 1)
    lines = [f"active samples: {total}"]
    lines += [f"  {100 * through[name] / total:5.1f}%  through {name}" for name in INTEREST]
    lines.append("  top self frames:")
    lines += [f"  {100 * n / total:5.1f}%  {leaf}" for leaf, n in leaves.most_common(top)]
    return lines


def main() -> None:
    """Start the setup, profile the server under load, print the shares."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("kind", nargs="?", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--out", type=Path, help="keep the raw collapsed stacks here")
    parser.add_argument("--edge", type=int, default=64, help="the upstream's image, px square")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="isk-bench-profile-"))
    raw = args.out or workdir / "profile.raw"
    spy = str(Path(sys.executable).parent / "py-spy")
    upstream_port = gateway.free_port()
    upstream = [sys.executable, "-m", "bench._upstream", str(upstream_port), str(args.edge)]
    with ExitStack() as stack:
        stack.enter_context(
            gateway._process(upstream, f"http://{gateway.HOST}:{upstream_port}/", workdir, "up")
        )
        target = stack.enter_context(gateway.ours(args.kind, upstream_port, workdir))
        run_load(gateway.HOST, target.port, target.payload, 20, 1)  # warm up
        record = [spy, "record", "--pid", str(target.pid), "--duration", str(args.seconds)]
        record += ["--rate", "200", "--format", "raw", "--output", str(raw), "--nonblocking"]
        profiler = subprocess.Popen(record, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Load for as long as the profiler samples (a fixed count could end well before it).
        done, seconds = 0, 0.0
        while profiler.poll() is None:
            result = run_load(gateway.HOST, target.port, target.payload, 100, 10)
            done, seconds = done + 100, seconds + result.wall_s
        profiler.wait(timeout=60)
    print(f"{args.kind}: {done / max(seconds, 1e-9):.1f} creates/s at c=10 while profiled")
    print("\n".join(shares(raw)))


if __name__ == "__main__":
    main()
