"""CLI start-up cost, against the floors any CLI pays: ``python -c pass`` and ``node -e 0``.

Issue 15's targets: ``image-skill --version --json`` at most 0.8x the wall time of
``node -e 0`` (no Node CLI of the same contract can start faster than Node itself),
and a hosted ``whoami --json`` (a real answer from a running ``image-skill serve``)
within 40 ms of ``python -c pass``. ``--node-cli PATH`` adds a Node CLI of the same
contract (its ``--version``), e.g. the 0.1.0 client if you have it. Timed with
hyperfine when installed (``apt-get install hyperfine``), else a plain loop; the
figure is the median wall time. Run from the repository root::

    .venv/bin/python -m bench.cli_startup            # 30 runs of each
    .venv/bin/python -m bench.cli_startup --tiny     # CI: 3 runs, only that it runs
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench._timing import bench_env, time_command
from tests.support.burst import signup
from tests.support.servers import start_server, stop_server


def median_ms(argv: list[str], runs: int, env: dict[str, str]) -> float:
    """Median wall time (ms) of ``argv``: hyperfine if installed, else a loop."""
    hyperfine = shutil.which("hyperfine")
    if hyperfine is None:
        return statistics.median(time_command(argv, runs, env))
    with tempfile.NamedTemporaryFile(suffix=".json") as export:
        subprocess.run(
            [
                hyperfine,
                "--shell=none",
                "--style=none",
                "--warmup=3",
                f"--runs={runs}",
                f"--export-json={export.name}",
                subprocess.list2cmdline(argv),
            ],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        result = json.loads(Path(export.name).read_text())["results"][0]
    return float(result["median"]) * 1000


def check_answers(argv: list[str], env: dict[str, str]) -> None:
    """Fail loudly if a timed command does not succeed (a fast failure is no figure)."""
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv[-3:])} failed ({done.returncode}): {done.stdout[-500:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30, help="runs per command (default 30)")
    parser.add_argument("--tiny", action="store_true", help="CI: 3 runs, only that it runs")
    parser.add_argument("--node-cli", help="a Node CLI of the same contract, timed on --version")
    args = parser.parse_args()
    runs = 3 if args.tiny else args.runs
    exe = shutil.which("image-skill", path=str(Path(sys.executable).parent)) or "image-skill"
    workdir = Path(tempfile.mkdtemp(prefix="isk-bench-cli-"))
    env = bench_env(
        {
            "IMAGE_SKILL_HOME": str(workdir / "cli-home"),
            "IMAGE_SKILL_CONFIG_PATH": str(workdir / "cli-config.json"),
        }
    )
    for name in ("IMAGE_SKILL_TOKEN", "IMAGE_SKILL_API_BASE_URL"):
        env.pop(name, None)
    server = start_server(f"sqlite:///{workdir / 'bench.db'}", workdir)
    try:
        token, _actor = signup(server.base_url, "bench-cli")
        hosted_env = {**env, "IMAGE_SKILL_TOKEN": token}
        whoami = [exe, "--api-base-url", server.base_url, "whoami", "--json"]
        check_answers(whoami, hosted_env)
        rows: list[tuple[str, float]] = [
            ("python -c pass", median_ms([sys.executable, "-c", "pass"], runs, env))
        ]
        if shutil.which("node"):
            rows.append(("node -e 0", median_ms(["node", "-e", "0"], runs, env)))
        if args.node_cli:
            rows.append(("node CLI --version", median_ms([args.node_cli, "--version"], runs, env)))
        rows += [
            ("image-skill --version", median_ms([exe, "--version"], runs, env)),
            ("image-skill --version --json", median_ms([exe, "--version", "--json"], runs, env)),
            ("image-skill whoami --json (hosted)", median_ms(whoami, runs, hosted_env)),
        ]
    finally:
        stop_server(server)
    report(dict(rows), runs)


def report(figures: dict[str, float], runs: int) -> None:
    """Print each median and the ratios issue 15 names."""
    tool = "hyperfine" if shutil.which("hyperfine") else "a loop"
    print(f"CLI start-up: median wall time of {runs} runs each ({tool})")
    for name, value in figures.items():
        print(f"  {name:<38} {value:7.1f} ms")
    python = figures["python -c pass"]
    whoami = figures["image-skill whoami --json (hosted)"]
    print(f"  hosted whoami - python -c pass         {whoami - python:+7.1f} ms (target <= 40)")
    node = figures.get("node -e 0")
    if node:
        for name in ("image-skill --version", "image-skill --version --json"):
            print(f"  {name + ' / node -e 0':<38} {figures[name] / node:7.2f}x (target <= 0.8)")
    node_cli = figures.get("node CLI --version")
    if node_cli:
        ratio = figures["image-skill --version --json"] / node_cli
        print(f"  {'--version --json / node CLI':<38} {ratio:7.2f}x")


if __name__ == "__main__":
    main()
