"""Tiny helpers shared by the benchmark scripts."""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path


def bench_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for timed commands: bytecode caching on, as on a user's machine
    (some sandboxes export PYTHONDONTWRITEBYTECODE, which recompiles every module)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(extra or {})
    return env


def time_command(argv: Sequence[str], runs: int, env: dict[str, str] | None = None) -> list[float]:
    """Wall times (ms) of ``runs`` executions of a command, after one untimed warm-up."""
    env = env if env is not None else bench_env()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False
        )
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def time_call(fn: Callable[[], object], runs: int) -> list[float]:
    """Wall times (ms) of ``runs`` calls of ``fn``."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def summary(samples: list[float]) -> str:
    """``p50 / p90 / min`` in milliseconds."""
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return (
        f"p50 {statistics.median(ordered):7.1f} ms   p90 {p90:7.1f} ms   min {ordered[0]:7.1f} ms"
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process and its living descendants have used (Linux /proc)."""
    proc = Path(f"/proc/{pid}")
    fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
    total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    for task in proc.glob("task/*/children"):
        for child in task.read_text().split():
            with contextlib.suppress(OSError):  # it ended meanwhile
                total += cpu_seconds(int(child))
    return total
