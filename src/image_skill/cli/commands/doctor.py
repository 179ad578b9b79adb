"""``doctor``: is this install healthy and can it do its job here?"""

from __future__ import annotations

import os
import sys
from argparse import Namespace
from typing import Any

from image_skill import __version__
from image_skill.cli.config import config_mode
from image_skill.cli.context import Context
from image_skill.cli.parser import Registrar
from image_skill.result import Result


def register(reg: Registrar) -> None:
    """Add ``doctor``."""
    reg.command(
        "doctor",
        run_doctor,
        "Check the CLI, service reachability, auth, output permissions and telemetry.",
    )


def run_doctor(context: Context, _args: Namespace) -> Result:
    """Run every check; fail (exit 7) only when the service cannot be reached."""
    import platform

    checks: list[dict[str, Any]] = [
        {
            "name": "cli",
            "status": "ok",
            "detail": f"image-skill {__version__}, Python {platform.python_version()}",
        },
    ]
    health = context.client().health()
    if not health.ok:
        return _unreachable(context, health, checks)
    service = health.data or {}
    checks.append(
        {
            "name": "service",
            "status": "ok",
            "detail": f"{_where(context)}, API {service.get('api_version')}",
        }
    )
    checks.append(_auth_check(context))
    checks.append(_output_check())
    checks.append(_config_check())
    checks.append(_storage_check(context))
    # The service's own setting (it is the service that emits telemetry).
    telemetry = str(service.get("telemetry") or "on").lower()
    checks.append(
        {
            "name": "telemetry",
            "status": "ok",
            "detail": "off (documented no-telemetry mode)" if telemetry == "off" else "on",
        }
    )
    degraded = any(check["status"] != "ok" for check in checks)
    health.envelope["data"] = {
        "status": "degraded" if degraded else "ok",
        "api_version": service.get("api_version"),
        "mode": context.mode,
        "api_base_url": context.base_url,
        "cli_version": __version__,
        "service": service,
        "checks": checks,
    }
    return health


def _unreachable(context: Context, health: Result, checks: list[dict[str, Any]]) -> Result:
    """The health failure, with every check that can run without the service in its details
    (and on stderr in human mode), so the cause is visible even when the service is not."""
    error = health.error or {}
    checks.append({"name": "service", "status": "fail", "detail": error.get("code")})
    checks.append({"name": "auth", "status": "skipped", "detail": "the service is unreachable"})
    checks.append(_output_check())
    checks.append(_config_check())
    checks.append(_storage_check(context))
    if isinstance(health.envelope.get("error"), dict):
        details = health.envelope["error"].setdefault("details", None) or {}
        details.update({"mode": context.mode, "api_base_url": context.base_url, "checks": checks})
        health.envelope["error"]["details"] = details
    if not context.json:
        for check in checks:
            sys.stderr.write(f"  {check['status']:<7} {check['name']}: {check['detail']}\n")
    return health


def _storage_check(context: Context) -> dict[str, Any]:
    if context.mode == "server":
        return {
            "name": "storage",
            "status": "ok",
            "detail": "kept by the server (its serve start line names the data directory, "
            "database and asset store)",
        }
    from image_skill.cli.commands.serve import describe_storage, storage_summary
    from image_skill.service.settings import Settings

    summary = storage_summary(Settings(embedded=True))
    return {"name": "storage", "status": "ok", "detail": describe_storage(summary), **summary}


def _auth_check(context: Context) -> dict[str, Any]:
    if context.mode == "server" and context.token is None:
        return {
            "name": "auth",
            "status": "warn",
            "detail": "no token; run image-skill signup --agent ... --save",
        }
    who = context.client().whoami()
    if who.ok:
        actor = who.data.get("actor") or {}
        return {
            "name": "auth",
            "status": "ok",
            "detail": f"{actor.get('actor_type')} {actor.get('actor_id')} "
            f"({actor.get('claim_state')})",
        }
    return {"name": "auth", "status": "fail", "detail": (who.error or {}).get("code")}


def _output_check() -> dict[str, Any]:
    try:
        import tempfile

        with tempfile.NamedTemporaryFile(dir=os.getcwd(), prefix=".image-skill-doctor-"):
            pass
    except OSError:
        return {
            "name": "output_dir",
            "status": "warn",
            "detail": "the current directory is not writable",
        }
    return {"name": "output_dir", "status": "ok", "detail": "current directory is writable"}


def _config_check() -> dict[str, Any]:
    mode = config_mode()
    if mode is None:
        return {"name": "config", "status": "ok", "detail": "no saved config"}
    if mode & 0o077:
        return {
            "name": "config",
            "status": "warn",
            "detail": f"config is mode {mode:o}; run chmod 600 on it",
        }
    return {"name": "config", "status": "ok", "detail": "config is mode 600"}


def _where(context: Context) -> str:
    """``embedded service`` or ``server at URL``."""
    return "embedded service" if context.base_url is None else f"server at {context.base_url}"
