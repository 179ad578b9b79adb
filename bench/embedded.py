"""Embedded-mode CLI wall time: the first command, warm commands, and in-process.

Run from the repository root: ``.venv/bin/python -m bench.embedded`` (``--tiny``
for CI: two runs, checks only that it runs). For each of ``whoami``, ``usage
quota`` and a ``local.sketch`` create it prints the median wall time of

* first: the first embedded command on a data directory with no daemon
  (interpreter, daemon start, app start; the migrations are already done),
* warm: later commands, answered by the running daemon,
* in-process: ``IMAGE_SKILL_EMBEDDED_DAEMON=0``, the service started in the CLI
  process every time (the behaviour before the daemon),

and the warm/in-process ratio. Every run is a whole ``image-skill`` process.
The daemon is stopped at the end.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._timing import bench_env

COMMANDS = {
    "whoami": ["whoami", "--json"],
    "usage quota": ["usage", "quota", "--json"],
    "create local.sketch": [
        "create",
        "--model",
        "local.sketch",
        "--prompt",
        "a lighthouse in fog",
        "--json",
    ],
}


def _wall(argv: list[str], env: dict[str, str]) -> float:
    """Seconds one command takes; it must succeed."""
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, env=env, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[1:3])} failed: {done.stdout[-500:]!r}")
    return elapsed


def _stop(exe: str, env: dict[str, str]) -> None:
    subprocess.run([exe, "daemon", "stop", "--json"], capture_output=True, env=env, check=False)


def measure(exe: str, env: dict[str, str], argv: list[str], runs: int) -> dict[str, float]:
    """Median first / warm / in-process wall seconds of ``argv``."""
    firsts, warm, direct = [], [], []
    for _ in range(max(runs // 3, 1)):
        _stop(exe, env)
        firsts.append(_wall([exe, *argv], env))
        warm.append(_wall([exe, *argv], env))
    warm += [_wall([exe, *argv], env) for _ in range(runs)]
    off = {**env, "IMAGE_SKILL_EMBEDDED_DAEMON": "0"}
    direct += [_wall([exe, *argv], off) for _ in range(max(runs // 2, 1))]
    return {
        "first": statistics.median(firsts),
        "warm": statistics.median(warm),
        "in-process": statistics.median(direct),
    }


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="warm runs per command")
    parser.add_argument("--tiny", action="store_true", help="two runs (CI: it runs)")
    args = parser.parse_args()
    runs = 2 if args.tiny else args.runs
    exe = shutil.which("image-skill", path=str(Path(sys.executable).parent)) or "image-skill"
    home = tempfile.mkdtemp(prefix="isk-bench-embedded-")
    env = bench_env(
        {
            "IMAGE_SKILL_HOME": f"{home}/data",
            "IMAGE_SKILL_CONFIG_PATH": f"{home}/c.json",
            "IMAGE_SKILL_TELEMETRY": "off",
        }
    )
    env.pop("IMAGE_SKILL_EMBEDDED_DAEMON", None)
    env.pop("IMAGE_SKILL_API_BASE_URL", None)
    try:
        _wall([exe, "whoami", "--json"], {**env, "IMAGE_SKILL_EMBEDDED_DAEMON": "0"})  # migrate
        print(f"Embedded CLI wall time, median seconds ({runs} warm runs per command)")
        print(f"  {'command':<22} {'first':>7} {'warm':>7} {'in-process':>11} {'warm/in-proc':>13}")
        for name, argv in COMMANDS.items():
            got = measure(exe, env, argv, runs)
            ratio = got["warm"] / got["in-process"]
            print(
                f"  {name:<22} {got['first']:7.3f} {got['warm']:7.3f} "
                f"{got['in-process']:11.3f} {ratio:13.2f}"
            )
    finally:
        _stop(exe, env)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
