"""Which CLI commands ``POST /v1/cli`` runs, and which it refuses (and what to use instead).

The bridge runs commands inside the server, so anything that would act on the
server's machine is refused: reading or writing local files, the saved config,
stdin, or pointing the client at another service. Every command states its
policy in ``contract.commands`` (where its name is); one marked LOCAL without a
refusal here, or unknown, is refused as unreviewed (fail closed).
"""

from __future__ import annotations

from argparse import Namespace

from image_skill.cli import uploads
from image_skill.contract import commands
from image_skill.contract.errors import ErrorCode, ImageSkillError, invalid_arguments

ROUTE = "POST /v1/cli"
MAX_WAIT_MS = 120_000

# Commands that only talk to the service through the client (safe to run here),
# as contract.commands classifies them.
ALLOWED = commands.BRIDGE_COMMANDS

# Command (or group) -> (the HTTP route to use instead, why).
REFUSED: dict[str, tuple[str, str]] = {
    "image-skill upload": (
        "POST /v1/upload",
        "Upload the image bytes with POST /v1/upload (bytes_base64), then use the asset id.",
    ),
    "image-skill assets get": (
        "GET /v1/assets/{asset_id}",
        "Read the asset with GET /v1/assets/{asset_id}, then download its url "
        "(GET /a/{asset_id}.{ext}, no token needed).",
    ),
    "image-skill auth": (
        "GET /v1/whoami",
        "Send the token as 'Authorization: Bearer' and check it with GET /v1/whoami; "
        "nothing is saved on the server.",
    ),
    "image-skill doctor": (
        "GET /healthz",
        "Check the service with GET /healthz and the token with GET /v1/whoami.",
    ),
    "image-skill claim link": (
        "GET /v1/claims/{claim_id}",
        "The claim link goes only to the sponsor's email; follow the claim with "
        "GET /v1/claims/{claim_id}.",
    ),
    "image-skill serve": ("GET /healthz", "The service is already running: GET /healthz."),
    "image-skill worker": (
        "GET /healthz",
        "Workers are started by the operator on the service's own machines, never over HTTP.",
    ),
    "image-skill mcp": (
        "POST /mcp",
        "This service already serves MCP over Streamable HTTP at /mcp, with the same token.",
    ),
    "image-skill daemon": (
        "GET /healthz",
        "The embedded CLI's local daemon lives on the caller's machine; this service is "
        "already running: GET /healthz.",
    ),
    "image-skill admin": (
        ROUTE,
        "Operator commands run only on the service's own machine, never over HTTP.",
    ),
}

# Global flags that would read a local secret or send the command elsewhere.
_REFUSED_FLAGS = (
    ("token", "--token", "Send the token in the 'Authorization: Bearer' header of POST /v1/cli."),
    (
        "token_stdin",
        "--token-stdin",
        "Send the token in the 'Authorization: Bearer' header of POST /v1/cli.",
    ),
    (
        "api_base_url",
        "--api-base-url",
        "POST /v1/cli always runs the command against this service.",
    ),
)


def not_available(command: str, route: str, hint: str) -> ImageSkillError:
    """The refusal of a command that would act on the server's machine."""
    return ImageSkillError(
        ErrorCode.PUBLIC_CLI_COMMAND_NOT_AVAILABLE,
        f"'{command}' is not available over {ROUTE}: it would act on the server's machine. {hint}",
        details={"route": route},
    )


def refused_flag(flag: str, hint: str) -> ImageSkillError:
    """The refusal of a global flag the bridge does not take."""
    return ImageSkillError(
        ErrorCode.INVALID_ARGUMENTS,
        f"{flag} is not accepted by {ROUTE}. {hint}",
        details={"field": flag, "route": ROUTE},
    )


def _refused_group(command: str) -> tuple[str, tuple[str, str]] | None:
    for prefix, answer in REFUSED.items():
        if command == prefix or command.startswith(prefix + " "):
            return prefix, answer
    return None


def check(args: Namespace, *, service_base_url: str) -> None:
    """Raise unless the parsed command may run inside the server.

    May rewrite ``args`` so the command cannot touch the file system (an
    ``edit --input`` asset id becomes the service URL of that asset, which the
    CLI resolves without looking for a local file of that name).
    """
    for dest, flag, hint in _REFUSED_FLAGS:
        value = getattr(args, dest, None)
        if value is not None and value is not False:
            raise refused_flag(flag, hint)
    command = str(getattr(args, "command_name", "image-skill"))
    refused = _refused_group(command)
    if refused is not None:
        _prefix, (route, hint) = refused
        raise not_available(command, route, hint)
    if getattr(args, "handler", None) is None:
        return  # a group or the root: answered by help, nothing runs
    if command not in ALLOWED:
        raise not_available(
            command, ROUTE, "It has not been reviewed for running inside the service."
        )
    _check_local_inputs(args, command)
    if command == "image-skill signup" and getattr(args, "save", False):
        raise not_available(
            "image-skill signup --save",
            "POST /v1/agent-signups",
            "Sign up with POST /v1/agent-signups (or signup --show-token) and keep the token "
            "yourself.",
        )
    if command == "image-skill edit":
        _pin_edit_input(args, service_base_url)
    if command == "image-skill jobs wait":
        timeout = getattr(args, "timeout_ms", None)
        if isinstance(timeout, int) and timeout > MAX_WAIT_MS:
            raise invalid_arguments(
                f"--timeout-ms may be at most {MAX_WAIT_MS} over {ROUTE}; "
                "call again to keep waiting.",
                field="--timeout-ms",
            )


def _check_local_inputs(args: Namespace, command: str) -> None:
    """No flag that names a local file (``--prompt-file`` today, any ``*_file`` later)."""
    for dest, value in sorted(vars(args).items()):
        if value is None or not (dest.endswith("_file") or dest.endswith("_path")):
            continue
        flag = "--" + dest.replace("_", "-")
        if dest == "prompt_file":
            route = "POST /v1/create" if command == "image-skill create" else "POST /v1/edit"
            hint = f"Send the prompt text itself: --prompt here, or 'prompt' in {route}."
        else:
            route, hint = ROUTE, "Send the content itself instead of a file name."
        raise not_available(f"{command} {flag}", route, hint)


def _pin_edit_input(args: Namespace, service_base_url: str) -> None:
    reference = getattr(args, "input", None)
    if reference is None:
        return  # the command itself answers that --input is required
    asset_id = uploads.owned_asset_id(str(reference))
    if asset_id is None:
        raise not_available(
            "image-skill edit --input PATH_OR_URL",
            "POST /v1/upload",
            "Upload the input with POST /v1/upload first, then edit with --input ASSET_ID.",
        )
    args.input = f"{service_base_url.rstrip('/')}/a/{asset_id}"
