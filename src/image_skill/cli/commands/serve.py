"""``serve``: run the HTTP service for many agents.

Where the service keeps its data is the first thing an operator asks, so the
start line names the data directory, the database kind and the asset store kind
(never a URL, which may carry a password); ``--home`` chooses the directory.

uvicorn runs on uvloop with the httptools parser (both dependencies) rather than
the pure-Python asyncio loop and h11: the HTTP stack is a fixed cost on every
request. ``server_stack`` names the choice so an install without them (uvloop
has no Windows build) still serves, on the pure-Python pair, and says so.
"""

from __future__ import annotations

import importlib
import os
import sys
from argparse import Namespace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from image_skill.service.settings import Settings

from image_skill.cli.parser import Registrar
from image_skill.contract.errors import ErrorCode, ImageSkillError
from image_skill.result import Result


def register(reg: Registrar) -> None:
    """Add ``serve``."""
    parser = reg.command("serve", run_serve, "Run the Image Skill HTTP service (uvicorn).")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8787, help="port to bind (default 8787)")
    parser.add_argument(
        "--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"]
    )
    parser.add_argument(
        "--home",
        metavar="DIR",
        help="data directory: SQLite database and local assets (sets IMAGE_SKILL_HOME; "
        "default: IMAGE_SKILL_HOME, else $XDG_DATA_HOME/image-skill)",
    )


def storage_summary(settings: Settings) -> dict[str, str]:
    """Where a service keeps its data: directory, database kind, asset store kind (no secrets)."""
    scheme = settings.resolved_database_url.split(":", 1)[0].split("+", 1)[0]
    return {
        "data_dir": str(settings.home),
        "database": "postgresql" if scheme.startswith("postgres") else scheme,
        "asset_store": settings.asset_store,
    }


def describe_storage(summary: dict[str, str]) -> str:
    """``summary`` as one human phrase."""
    return (
        f"data {summary['data_dir']}, database {summary['database']}, "
        f"assets {summary['asset_store']}"
    )


def server_stack() -> dict[str, str]:
    """uvicorn's ``loop`` and ``http`` settings: uvloop and httptools when installed."""
    return {
        "loop": "uvloop" if _importable("uvloop") else "asyncio",
        "http": "httptools" if _importable("httptools") else "h11",
    }


def _importable(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def run_serve(_context: Any, args: Namespace) -> Result:
    """Serve until interrupted; returns an envelope only if the server cannot start."""
    import uvicorn

    from image_skill.cli.runner import local_result
    from image_skill.server import create_server_app
    from image_skill.service.credits.rails.fake_switch import warn_if_fake_in_production
    from image_skill.service.settings import server_settings

    # Unsafe configuration (e.g. fake payments in production without the allow
    # switch) is refused here: one INVALID_ARGUMENTS line, exit 2, no traceback.
    if args.home:
        os.environ["IMAGE_SKILL_HOME"] = str(Path(args.home).expanduser().resolve())
    settings = server_settings()
    warn_if_fake_in_production(settings)
    where = describe_storage(storage_summary(settings))
    stack = server_stack()
    sys.stderr.write(
        f"image-skill: serving on http://{args.host}:{args.port} ({where}; "
        f"{stack['loop']}, {stack['http']})\n"
    )
    try:
        uvicorn.run(
            create_server_app(settings),
            host=args.host,
            port=args.port,
            log_level=args.log_level,
            access_log=False,
            loop=stack["loop"],
            http=stack["http"],
            # Whose X-Forwarded-For to believe is IMAGE_SKILL_TRUST_FORWARDED_FOR's call
            # (service/abuse/limiter.py); uvicorn's default trusts it from 127.0.0.1.
            proxy_headers=False,
        )
    except SystemExit as exc:
        raise ImageSkillError(
            ErrorCode.SERVICE_UNAVAILABLE,
            "The service could not start (port in use, or database or asset store "
            "unreachable); see stderr.",
        ) from exc
    return local_result("image-skill serve", {"stopped": True})
