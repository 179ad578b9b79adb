"""Which service and which token a client talks to: the one resolver of the CLI and the SDK.

An agent that saved a token with ``signup --save``, or exported
``IMAGE_SKILL_API_BASE_URL`` / ``IMAGE_SKILL_TOKEN``, must reach the same service
with the same identity whether it runs ``image-skill whoami`` or
``Client().whoami()``; two copies of these rules would drift, so both call here.

Resolution order (first wins):
  API base: --api-base-url, IMAGE_SKILL_API_BASE_URL, the saved config, embedded.
  Token:    --token-stdin, --token, IMAGE_SKILL_TOKEN, IMAGE_SKILL_HOSTED_TOKEN,
            the saved config (only if it was saved for this same API base).
"""

from __future__ import annotations

import json
import os
import sys
from enum import Enum

from image_skill.contract.errors import ImageSkillError, invalid_arguments
from image_skill.paths import config_file
from image_skill.transport.urls import split_base

# Not ``typing.TYPE_CHECKING``: every CLI call imports this module, and neither
# ``typing`` nor ``pathlib`` is needed to run it (mypy still reads the block).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, Literal, TypeAlias

TOKEN_ENV_VARS = ("IMAGE_SKILL_TOKEN", "IMAGE_SKILL_HOSTED_TOKEN")
BASE_ENV_VAR = "IMAGE_SKILL_API_BASE_URL"


class Unset(Enum):
    """The "not given" default of ``Client(base_url, token)``: resolved like the CLI."""

    RESOLVE = "resolve"


RESOLVE = Unset.RESOLVE
if TYPE_CHECKING:
    Given: TypeAlias = str | Literal[Unset.RESOLVE] | None


def load_config(path: Path | None = None) -> dict[str, Any]:
    """The saved CLI config, or ``{}`` when there is none (or it is unreadable)."""
    try:
        with open(config_file() if path is None else path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def normalize_base(url: str | None) -> str | None:
    """A canonical API base (no trailing slash), validated; None means embedded."""
    if url is None:
        return None
    url = url.strip().rstrip("/")
    if not url:
        return None
    if not (url.startswith("http://") or url.startswith("https://")):
        raise invalid_arguments(
            "--api-base-url must start with http:// or https://", field="api_base_url"
        )
    try:
        parts = split_base(url)
        has_host = bool(parts.hostname) and (parts.port or 0) >= 0
    except ValueError:  # a port that is not a number in range, a broken IPv6 literal
        has_host = False
    if not has_host:
        raise invalid_arguments(
            "--api-base-url needs a host name and, if any, a numeric port.", field="api_base_url"
        )
    return url


def resolve_base(
    config: dict[str, Any], warnings: list[str], *, flag: str | None = None
) -> tuple[str | None, str]:
    """The API base and where it came from (``flag``, ``env``, ``config`` or ``embedded``)."""
    if flag:
        return normalize_base(flag), "flag"
    env = os.environ.get(BASE_ENV_VAR)
    if env:
        return normalize_base(env), "env"
    saved = config.get("api_base_url")
    if isinstance(saved, str) and saved:
        try:
            return normalize_base(saved), "config"
        except ImageSkillError:
            # A broken config must not lock the user out of `auth logout`.
            warnings.append("The saved config has an invalid api_base_url; ignored.")
    return None, "embedded"


def resolve_token(
    base_url: str | None,
    config: dict[str, Any],
    warnings: list[str],
    *,
    flag: str | None = None,
    from_stdin: bool = False,
) -> tuple[str | None, str]:
    """The token for ``base_url`` and where it came from (``stdin``, ``flag``, ``env``,
    ``config`` or ``none``)."""
    if from_stdin:
        line = sys.stdin.readline().strip()
        if not line:
            raise invalid_arguments("--token-stdin was given but stdin held no token.")
        return line, "stdin"
    if flag:
        warnings.append(
            "A token on the command line can leak through process listings; "
            "prefer --token-stdin or IMAGE_SKILL_TOKEN."
        )
        return flag.strip(), "flag"
    for name in TOKEN_ENV_VARS:
        value = os.environ.get(name)
        if value and value.strip():
            return value.strip(), "env"
    saved = config.get("token")
    if isinstance(saved, str) and saved and config_matches_base(config, base_url):
        return saved, "config"
    return None, "none"


def config_matches_base(config: dict[str, Any], base_url: str | None) -> bool:
    """Whether the config's token was saved for ``base_url``.

    A token saved for one service is never sent to another one; a config that does
    not say which service its token belongs to (hand-written) is sent nowhere.
    """
    if "api_base_url" not in config:
        return False
    try:
        return normalize_base(config.get("api_base_url")) == base_url
    except ImageSkillError:
        return False


def for_sdk(base_url: Given, token: Given, *, has_transport: bool) -> tuple[str | None, str | None]:
    """What ``Client`` was given, and the CLI's choice for what it was not.

    With a transport nothing is looked up (the caller chose the service outright).
    """
    if has_transport:
        return (None if base_url is RESOLVE else base_url, None if token is RESOLVE else token)
    if base_url is not RESOLVE and token is not RESOLVE:
        return base_url, token
    config = load_config()
    ignored: list[str] = []
    base = resolve_base(config, ignored)[0] if base_url is RESOLVE else normalize_base(base_url)
    if token is RESOLVE:
        token = resolve_token(base, config, ignored)[0]
    return base, token
