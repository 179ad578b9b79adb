"""The CLI's command names, as data anyone may read without importing the CLI.

The CLI sends its command's name with every request (``x-image-skill-command``)
and puts it in every envelope. The service's telemetry labels calls with it and
the ``/v1/cli`` bridge classifies commands by it; neither may import the CLI
(argparse, the handlers and the SDK) to learn the names. So the names live
here, standard library only, and a unit test holds them equal to what the CLI's
registrar (``cli.parser.Registrar``) actually registers. Each name states its
bridge policy beside it, so a command cannot be added without deciding whether
``/v1/cli`` may run it.
"""

from __future__ import annotations

ROOT = "image-skill"

# Whether ``POST /v1/cli`` may run a command inside the server (``bridge.allowed_commands``
# checks the flags and arguments noted here): BRIDGED commands only talk to the service
# through the client; LOCAL ones would act on the server's machine and are refused.
BRIDGED = True
LOCAL = False

# Every command that runs something (a handler), in the order help lists them, with
# its bridge policy: a new command must state one.
_TABLE: tuple[tuple[str, bool], ...] = (
    ("image-skill help", BRIDGED),
    ("image-skill version", BRIDGED),
    ("image-skill skill", BRIDGED),  # reads the guide shipped in the package
    ("image-skill docs", BRIDGED),  # over the bridge: the service's URLs, no file paths
    ("image-skill doctor", LOCAL),
    ("image-skill signup", BRIDGED),  # without --save
    ("image-skill whoami", BRIDGED),
    ("image-skill usage quota", BRIDGED),
    ("image-skill quota", BRIDGED),
    ("image-skill claim request", BRIDGED),
    ("image-skill claim status", BRIDGED),
    ("image-skill claim link", LOCAL),
    ("image-skill auth status", LOCAL),
    ("image-skill auth save", LOCAL),
    ("image-skill auth logout", LOCAL),
    ("image-skill models list", BRIDGED),
    ("image-skill models show", BRIDGED),
    ("image-skill capabilities list", BRIDGED),
    ("image-skill capabilities show", BRIDGED),
    ("image-skill create", BRIDGED),  # without --prompt-file
    ("image-skill upload", LOCAL),
    ("image-skill edit", BRIDGED),  # only with an owned asset as --input, without --prompt-file
    ("image-skill assets list", BRIDGED),
    ("image-skill assets show", BRIDGED),
    ("image-skill assets get", LOCAL),
    ("image-skill jobs show", BRIDGED),
    ("image-skill jobs list", BRIDGED),
    ("image-skill jobs wait", BRIDGED),  # with a bounded --timeout-ms
    ("image-skill jobs cancel", BRIDGED),
    ("image-skill credits packs list", BRIDGED),
    ("image-skill credits quote", BRIDGED),
    ("image-skill credits buy", BRIDGED),
    ("image-skill credits status", BRIDGED),
    ("image-skill credits fake-purchase", BRIDGED),
    ("image-skill activity list", BRIDGED),
    ("image-skill activity show", BRIDGED),
    ("image-skill feedback create", BRIDGED),
    ("image-skill webhooks show", BRIDGED),
    ("image-skill webhooks set-default", BRIDGED),
    ("image-skill webhooks clear-default", BRIDGED),
    ("image-skill webhooks rotate-secret", BRIDGED),  # the new secret goes back to the caller only
    ("image-skill webhooks deliveries", BRIDGED),
    ("image-skill serve", LOCAL),
    ("image-skill worker", LOCAL),
    ("image-skill mcp", LOCAL),  # stdio belongs to the MCP client; never over /v1/cli
    ("image-skill daemon status", LOCAL),  # the embedded daemon of the machine's data dir
    ("image-skill daemon stop", LOCAL),
    ("image-skill admin agents list", LOCAL),
    ("image-skill admin agents claim", LOCAL),
    ("image-skill admin tokens revoke", LOCAL),
    ("image-skill admin credits grant", LOCAL),
    ("image-skill admin feedback list", LOCAL),
    ("image-skill admin feedback triage", LOCAL),
    ("image-skill admin jobs repair", LOCAL),
    ("image-skill admin jobs list", LOCAL),
    ("image-skill admin jobs resolve", LOCAL),
)
COMMANDS: tuple[str, ...] = tuple(name for name, _policy in _TABLE)
# The commands the ``/v1/cli`` bridge may run.
BRIDGE_COMMANDS: frozenset[str] = frozenset(name for name, policy in _TABLE if policy is BRIDGED)

# Command groups that run nothing themselves: named alone, they answer with help.
# (A group with a default command, like ``models``, answers as that command.)
HELP_GROUPS: tuple[str, ...] = (
    "image-skill claim",
    "image-skill auth",
    "image-skill assets",
    "image-skill jobs",
    "image-skill credits",
    "image-skill activity",
    "image-skill feedback",
    "image-skill webhooks",
    "image-skill daemon",
    "image-skill admin",
    "image-skill admin agents",
    "image-skill admin tokens",
    "image-skill admin credits",
    "image-skill admin feedback",
    "image-skill admin jobs",
)

# Every name a CLI envelope's ``command`` (and the command header) can carry.
ALL_NAMES: frozenset[str] = frozenset((ROOT, *COMMANDS, *HELP_GROUPS))
