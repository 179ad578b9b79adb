"""``worker``: run jobs from the PostgreSQL queue (a scale-out deploy's job processes).

The command only starts ``service.jobs.worker``; everything it does is there. It runs
on uvloop when installed, like ``serve`` (see ``serve.server_stack``).
"""

from __future__ import annotations

import sys
from argparse import Namespace
from typing import Any

from image_skill.cli.parser import Registrar
from image_skill.result import Result


def register(reg: Registrar) -> None:
    """Add ``worker``."""
    parser = reg.command(
        "worker",
        run_worker,
        "Run queued jobs (PostgreSQL only) until SIGTERM; see docs/jobs.md.",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        metavar="N",
        help="jobs run at once (default IMAGE_SKILL_WORKER_CONCURRENCY, 64)",
    )


def run_worker(_context: Any, args: Namespace) -> Result:
    """Run until signalled; returns an envelope once stopped (or if it cannot start)."""
    import anyio

    from image_skill.cli.commands.serve import server_stack
    from image_skill.cli.runner import local_result
    from image_skill.contract.errors import invalid_arguments
    from image_skill.service.jobs.worker import check_worker_settings
    from image_skill.service.jobs.worker import run_worker as serve_jobs
    from image_skill.service.settings import server_settings

    settings = server_settings()
    if args.concurrency is not None:
        if args.concurrency < 1:
            raise invalid_arguments("--concurrency must be at least 1.", field="--concurrency")
        settings = settings.model_copy(update={"worker_concurrency": args.concurrency})
    check_worker_settings(settings)
    sys.stderr.write(f"image-skill: worker running up to {settings.worker_concurrency} jobs\n")
    uvloop = server_stack()["loop"] == "uvloop"
    anyio.run(serve_jobs, settings, backend_options={"use_uvloop": uvloop})
    return local_result("image-skill worker", {"stopped": True})
