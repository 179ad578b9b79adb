"""The CLI's command names, as data anyone may read without importing the CLI.

The CLI sends its command's name with every request (``x-image-skill-command``)
and puts it in every envelope. The service's telemetry labels calls with it and
the ``/v1/cli`` bridge classifies commands by it; neither may import the CLI
(argparse, the handlers and the SDK) to learn the names. So the names live
here, standard library only, and a unit test holds them equal to what the CLI's
registrar (``cli.parser.Registrar``) actually registers.
"""

from __future__ import annotations

ROOT = "image-skill"

# Every command that runs something (a handler), in the order help lists them.
COMMANDS: tuple[str, ...] = (
    "image-skill help",
    "image-skill version",
    "image-skill doctor",
    "image-skill signup",
    "image-skill whoami",
    "image-skill usage quota",
    "image-skill quota",
    "image-skill claim request",
    "image-skill claim status",
    "image-skill claim link",
    "image-skill auth status",
    "image-skill auth save",
    "image-skill auth logout",
    "image-skill models list",
    "image-skill models show",
    "image-skill capabilities list",
    "image-skill capabilities show",
    "image-skill create",
    "image-skill upload",
    "image-skill edit",
    "image-skill assets show",
    "image-skill assets get",
    "image-skill jobs show",
    "image-skill jobs list",
    "image-skill jobs wait",
    "image-skill jobs cancel",
    "image-skill credits packs list",
    "image-skill credits quote",
    "image-skill credits buy",
    "image-skill credits status",
    "image-skill credits fake-purchase",
    "image-skill activity list",
    "image-skill activity show",
    "image-skill feedback create",
    "image-skill webhooks show",
    "image-skill webhooks set-default",
    "image-skill webhooks clear-default",
    "image-skill webhooks rotate-secret",
    "image-skill webhooks deliveries",
    "image-skill serve",
    "image-skill worker",
    "image-skill admin agents list",
    "image-skill admin agents claim",
    "image-skill admin tokens revoke",
    "image-skill admin credits grant",
    "image-skill admin feedback list",
    "image-skill admin feedback triage",
    "image-skill admin jobs repair",
    "image-skill admin jobs list",
    "image-skill admin jobs resolve",
)

# Command groups that run nothing themselves: named alone, they answer with help.
# (A group with a default command, like ``models``, answers as that command.)
HELP_GROUPS: tuple[str, ...] = (
    "image-skill usage",
    "image-skill claim",
    "image-skill auth",
    "image-skill assets",
    "image-skill jobs",
    "image-skill credits",
    "image-skill activity",
    "image-skill feedback",
    "image-skill webhooks",
    "image-skill admin",
    "image-skill admin agents",
    "image-skill admin tokens",
    "image-skill admin credits",
    "image-skill admin feedback",
    "image-skill admin jobs",
)

# Every name a CLI envelope's ``command`` (and the command header) can carry.
ALL_NAMES: frozenset[str] = frozenset((ROOT, *COMMANDS, *HELP_GROUPS))
