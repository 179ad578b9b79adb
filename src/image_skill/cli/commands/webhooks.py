"""``webhooks show|set-default|clear-default|rotate-secret|deliveries``: signed completion webhooks.

Claimed agents point the completion webhooks of their organization's jobs at a
public https URL (per job with ``create/edit --webhook-url``, or a default
here). Every webhook is signed with the Standard Webhooks scheme; the signing
secret is shown once, when it is made or rotated, and never again.
"""

from __future__ import annotations

from argparse import Namespace

from image_skill.cli.context import Context
from image_skill.cli.parser import Registrar
from image_skill.cli.values import MAX_LIMIT, page_limit
from image_skill.result import Result


def register(reg: Registrar) -> None:
    """Add the webhooks commands (the group itself needs a subcommand)."""
    reg.group("webhooks", "Signed completion webhooks of your organization's jobs (claimed).")
    reg.command("webhooks show", run_show, "Show the default webhook URL and secret status.")
    default = reg.command(
        "webhooks set-default",
        run_set_default,
        "Send every job's webhook to URL unless the job names its own (first time: makes "
        "the signing secret and shows it once).",
    )
    default.add_argument("url", metavar="URL", nargs="?", help="a public https:// URL")
    reg.command("webhooks clear-default", run_clear_default, "Stop sending default webhooks.")
    reg.command(
        "webhooks rotate-secret",
        run_rotate_secret,
        "Make a new signing secret (shown once); the old one stops signing at once.",
    )
    deliveries = reg.command(
        "webhooks deliveries", run_deliveries, "List webhook deliveries, newest first."
    )
    deliveries.add_argument(
        "--limit", type=int, metavar="N", help=f"at most N deliveries (1-{MAX_LIMIT})"
    )
    deliveries.add_argument("--cursor", metavar="CURSOR", help="continue from a previous page")


def run_show(context: Context, _args: Namespace) -> Result:
    """``GET /v1/webhooks``."""
    return context.client().request("GET", "/v1/webhooks")


def run_set_default(context: Context, args: Namespace) -> Result:
    """``PUT /v1/webhooks`` with the URL."""
    url = str(context.require(args.url, "URL")).strip()
    return context.client().request("PUT", "/v1/webhooks", body={"default_url": url})


def run_clear_default(context: Context, _args: Namespace) -> Result:
    """``PUT /v1/webhooks`` with no URL."""
    return context.client().request("PUT", "/v1/webhooks", body={"default_url": None})


def run_rotate_secret(context: Context, _args: Namespace) -> Result:
    """``POST /v1/webhooks/secret``."""
    return context.client().request("POST", "/v1/webhooks/secret", body={})


def run_deliveries(context: Context, args: Namespace) -> Result:
    """``GET /v1/webhooks/deliveries``."""
    cursor = args.cursor.strip() if args.cursor else None
    params = {"limit": page_limit(args.limit), "cursor": cursor}
    return context.client().request("GET", "/v1/webhooks/deliveries", params=params)
