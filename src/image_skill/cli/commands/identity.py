"""``signup``, ``whoami``, ``usage quota`` and its ``quota`` alias."""

from __future__ import annotations

from image_skill.cli.commands.quota_view import render_quota
from image_skill.cli.output import HUMAN_RENDERERS
from image_skill.contract.errors import ErrorCode, ImageSkillError

# Not ``typing.TYPE_CHECKING``: ``whoami`` and ``quota`` may run without any parser
# (``cli.quick``), so this module imports neither argparse nor typing (mypy reads the block).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from argparse import Namespace

    from image_skill.cli.context import Context
    from image_skill.cli.parser import Registrar
    from image_skill.result import Result

# Saving an agent's token in embedded mode changes who every later command runs as.
EMBEDDED_SAVE_WARNING = (
    "Embedded mode: from now on this CLI acts as the new agent, with its free credits and "
    "daily job cap, instead of the unlimited local owner; 'image-skill auth logout' "
    "removes the saved token and returns to the local owner."
)


def register(reg: Registrar) -> None:
    """Add the identity commands."""
    signup = reg.command("signup", run_signup, "Create a restricted agent identity and token.")
    signup.add_argument("--agent", action="store_true", help="sign up an agent (required)")
    signup.add_argument("--human-email", help="the sponsoring human's email")
    signup.add_argument("--agent-name", help="a stable name for this agent")
    signup.add_argument("--runtime", help="agent runtime, e.g. codex, claude-code, openclaw")
    signup.add_argument(
        "--save", action="store_true", help="save the token to the CLI config (0600) and redact it"
    )
    signup.add_argument(
        "--show-token",
        action="store_true",
        help="print the raw token once (for a separate secret store)",
    )
    reg.command("whoami", run_whoami, "Show the current actor, organization, claim and grants.")
    reg.group(
        "usage",
        "Usage and limits (alone: usage quota).",
        default=run_quota,
        default_words="usage quota",
    )
    reg.command("usage quota", run_quota, "Credits, daily job cap, usage today and reset time.")
    reg.command("quota", run_quota, "Alias of 'usage quota'.")
    add_renderers()


def add_renderers() -> None:
    """Register this module's human renderers (``register`` does; so does ``cli.quick``)."""
    for name in ("image-skill usage quota", "image-skill quota"):
        HUMAN_RENDERERS[name] = render_quota


def run_signup(context: Context, args: Namespace) -> Result:
    """Sign up (or rotate) an agent; save and/or show the token as asked."""
    # Here, not at the top: whoami and quota share this module and need neither.
    from datetime import UTC, datetime

    from image_skill.cli.config import check_writable, save_config
    from image_skill.contract.tokens import redact

    if not args.agent:
        raise ImageSkillError(
            ErrorCode.INVALID_ARGUMENTS,
            "signup needs --agent (agent signup is the only kind today).",
            recovery={"required_flag": "--agent"},
        )
    email = context.require(args.human_email, "--human-email")
    name = context.require(args.agent_name, "--agent-name")
    if not (args.save or args.show_token):
        raise ImageSkillError(
            ErrorCode.INVALID_ARGUMENTS,
            "signup issues a new token and revokes earlier ones; choose where it goes "
            "with --save (CLI config) or --show-token (print once).",
            recovery={
                "required_flag": "--save",
                "suggested_command": "image-skill signup --agent --human-email EMAIL "
                "--agent-name NAME --save --json",
            },
        )
    if args.save:
        check_writable()  # before signup rotates (and so revokes) the current token
    result = context.client().signup(email, name, runtime=args.runtime, return_token=True)
    if not result.ok:
        return result
    data = result.data
    token = data.get("token")
    if args.save and token:
        path = save_config(
            {
                "api_base_url": context.base_url,
                "token": token,
                "actor": data.get("actor"),
                "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        )
        data["token_saved"] = True
        data["config_path"] = str(path)
        if context.mode == "embedded":
            result.envelope.setdefault("warnings", []).append(EMBEDDED_SAVE_WARNING)
    if not args.show_token:
        data["token"] = None
        data["token_redacted"] = redact(token)
    else:
        result.envelope.setdefault("warnings", []).append(
            "The token is shown once; store it in a secret store, never in prompts or logs."
        )
    return result


def run_whoami(context: Context, _args: Namespace) -> Result:
    """Who the service thinks we are."""
    return context.client().whoami()


def run_quota(context: Context, _args: Namespace) -> Result:
    """The pre-spend check."""
    return context.client().quota()
