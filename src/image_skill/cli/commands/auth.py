"""``auth status|save|logout``: the CLI's saved credentials."""

from __future__ import annotations

import os
from argparse import Namespace
from datetime import UTC, datetime
from typing import Any

from image_skill.cli.config import config_mode, delete_config, load_config, save_config
from image_skill.cli.context import Context
from image_skill.cli.parser import Registrar
from image_skill.connection import TOKEN_ENV_VARS
from image_skill.contract.errors import ErrorCode, ImageSkillError
from image_skill.contract.tokens import is_well_formed, redact
from image_skill.paths import config_path
from image_skill.result import Result


def register(reg: Registrar) -> None:
    """Add the auth group."""
    reg.group("auth", "Inspect, save or remove the CLI's saved token.")
    reg.command("auth status", run_status, "Which service and token the CLI would use, verified.")
    reg.command(
        "auth save",
        run_save,
        "Verify a token (from --token-stdin, --token or env) and save it (0600).",
    )
    reg.command("auth logout", run_logout, "Remove the saved token from the CLI config.")


def _auth_summary(context: Context) -> dict[str, Any]:
    return {
        "mode": context.mode,
        "api_base_url": context.base_url,
        "api_base_url_source": context.base_source,
        "token_present": context.token is not None,
        "token_source": context.token_source,
        "token": redact(context.token),
        "config_path": str(config_path()),
        "config_exists": config_mode() is not None,
    }


def run_status(context: Context, _args: Namespace) -> Result:
    """Report the resolved credentials and check them against the service."""
    summary = _auth_summary(context)
    if context.mode == "server" and context.token is None:
        raise ImageSkillError(
            ErrorCode.AUTH_REQUIRED,
            "No token is configured for this service.",
            recovery={
                "suggested_command": "image-skill signup --agent --human-email EMAIL "
                "--agent-name NAME --save --json"
            },
        )
    who = context.client().whoami()
    if not who.ok:
        return who
    summary["verified"] = True
    summary["actor"] = who.data.get("actor")
    summary["token_class"] = who.data.get("token_class")
    summary["claim_state"] = who.data.get("claim_state")
    who.envelope["data"] = summary
    return who


def run_save(context: Context, _args: Namespace) -> Result:
    """Save the supplied token after the service accepts it."""
    if context.token is None or context.token_source == "config":
        raise ImageSkillError(
            ErrorCode.INVALID_ARGUMENTS,
            "auth save needs a token from --token-stdin, --token or IMAGE_SKILL_TOKEN.",
            recovery={"required_flag": "--token-stdin"},
        )
    if not is_well_formed(context.token):
        raise ImageSkillError(
            ErrorCode.AUTH_INVALID,
            "That is not an Image Skill token (expected isk_r_… with a valid checksum).",
        )
    who = context.client().whoami()
    if not who.ok:
        return who
    path = save_config(
        {
            "api_base_url": context.base_url,
            "token": context.token,
            "actor": who.data.get("actor"),
            "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    )
    who.envelope["data"] = {
        "saved": True,
        "config_path": str(path),
        "token": redact(context.token),
        "api_base_url": context.base_url,
        "actor": who.data.get("actor"),
    }
    return who


def run_logout(context: Context, _args: Namespace) -> Result:
    """Forget the saved token (and the service it belonged to)."""
    from image_skill.cli.runner import local_result

    had_token = bool(load_config().get("token"))
    removed = delete_config()
    data = {"logged_out": True, "had_saved_token": had_token, "config_removed": removed}
    warnings = []
    if context.token_source == "env":
        names = " / ".join(name for name in TOKEN_ENV_VARS if os.environ.get(name, "").strip())
        warnings.append(f"{names} is still set in the environment and will be used.")
    return local_result("image-skill auth logout", data, warnings=warnings)
