"""Two source trees side by side: the server CPU and throughput of creates, interleaved.

Run from the repository root::

    .venv/bin/python -m bench.ab_gateway BEFORE_SRC AFTER_SRC [--kind sqlite|postgres]
        [--rounds 8] [--requests 200] [--concurrency 10] [--edge 64]

Each tree's ``image-skill serve`` (``PYTHONPATH=<tree>``; e.g. ``git archive`` of a
commit's ``src``) runs at the same time on its own fresh database, behind the gateway
benchmark's zero-latency upstream; the rounds send ``--requests`` creates to one, then
the other, alternating which goes first. On a machine whose speed drifts (a shared
or virtual one: the same build measured a minute apart differs by tens of percent),
only figures taken this close together compare; the medians and their ratio are printed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from bench import gateway
from bench._load import run_load
from bench._timing import cpu_seconds


def main() -> None:
    """Start the upstream and both servers, alternate the load, print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--kind", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument(
        "--edge", type=int, default=64, help="the upstream's image, px square (1024: real size)"
    )
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="isk-bench-ab-"))
    upstream_port = gateway.free_port()
    upstream = [sys.executable, "-m", "bench._upstream", str(upstream_port), str(args.edge)]
    figures: dict[str, list[tuple[float, float]]] = {"before": [], "after": []}
    with ExitStack() as stack:
        stack.enter_context(
            gateway._process(upstream, f"http://{gateway.HOST}:{upstream_port}/", workdir, "up")
        )
        targets = {
            name: stack.enter_context(
                gateway.ours(
                    args.kind,
                    upstream_port,
                    workdir / name,
                    {"PYTHONPATH": f"{tree.resolve()}:{Path.cwd()}"},
                )
            )
            for name, tree in (("before", args.before), ("after", args.after))
        }
        for target in targets.values():
            run_load(gateway.HOST, target.port, target.payload, 50, args.concurrency)
        for round_ in range(args.rounds):
            order = ["before", "after"] if round_ % 2 == 0 else ["after", "before"]
            for name in order:
                target = targets[name]
                assert target.pid is not None
                start = cpu_seconds(target.pid)
                result = run_load(
                    gateway.HOST, target.port, target.payload, args.requests, args.concurrency
                )
                cpu_ms = (cpu_seconds(target.pid) - start) * 1000 / args.requests
                bad = {status: n for status, n in result.statuses.items() if status >= 300}
                if bad:
                    raise RuntimeError(f"{name}: non-success answers {bad}")
                figures[name].append((cpu_ms, result.rps))
            line = "  ".join(
                f"{name} {figures[name][-1][0]:6.2f} ms cpu/req {figures[name][-1][1]:6.1f} req/s"
                for name in ("before", "after")
            )
            print(f"round {round_ + 1}: {line}", flush=True)
    medians = {
        name: (statistics.median(c for c, _ in rows), statistics.median(r for _, r in rows))
        for name, rows in figures.items()
    }
    (cpu_b, rps_b), (cpu_a, rps_a) = medians["before"], medians["after"]
    print(
        f"median c={args.concurrency} ({args.kind}): before {cpu_b:.2f} ms cpu/req {rps_b:.1f} "
        f"req/s; after {cpu_a:.2f} ms cpu/req {rps_a:.1f} req/s; "
        f"after/before cpu {cpu_a / cpu_b:.2f}x, req/s {rps_a / rps_b:.2f}x"
    )


if __name__ == "__main__":
    main()
