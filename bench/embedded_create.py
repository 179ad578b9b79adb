"""Embedded-mode ``create`` wall time, and ``local.sketch`` render time per 1024² image.

Run from the repository root: ``.venv/bin/python -m bench.embedded_create``. The
CLI figure is a whole process (interpreter start, in-process service start, SQLite,
render, store); the render figure is the renderer alone, in-process.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from bench._timing import bench_env, summary, time_call, time_command

RUNS = int(os.environ.get("BENCH_RUNS", "15"))


def main() -> None:
    from image_skill.providers.sketch_render import render_sketch

    exe = shutil.which("image-skill", path=str(Path(sys.executable).parent)) or "image-skill"
    home = tempfile.mkdtemp(prefix="isk-bench-")
    env = bench_env(
        {
            "IMAGE_SKILL_HOME": home,
            "IMAGE_SKILL_CONFIG_PATH": f"{home}/c.json",
            "IMAGE_SKILL_TELEMETRY": "off",
        }
    )
    time_command([exe, "whoami", "--json"], 1, env)  # first use: migrations + owner
    create = [exe, "create", "--prompt", "a lighthouse in fog", "--json"]
    dry_run = [exe, "create", "--prompt", "a lighthouse in fog", "--dry-run", "--json"]
    rows = [
        ("embedded create (whole CLI process)", time_command(create, RUNS, env)),
        ("embedded create --dry-run", time_command(dry_run, RUNS, env)),
        ("embedded whoami", time_command([exe, "whoami", "--json"], RUNS, env)),
        (
            "local.sketch render 1024x1024 PNG",
            time_call(
                lambda: render_sketch("a lighthouse in fog", seed=None, width=1024, height=1024),
                RUNS * 2,
            ),
        ),
        (
            "local.sketch render 1024x1024 WebP",
            time_call(
                lambda: render_sketch(
                    "a lighthouse in fog", seed=None, width=1024, height=1024, output_format="webp"
                ),
                RUNS * 2,
            ),
        ),
    ]
    print(f"Embedded mode, {RUNS} runs each")
    for name, samples in rows:
        print(f"  {name:<40} {summary(samples)}")


if __name__ == "__main__":
    main()
