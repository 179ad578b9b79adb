"""Per-invocation state: which service, which token, and the SDK client.

Resolution order (first wins):
  API base: --api-base-url, IMAGE_SKILL_API_BASE_URL, the saved config, embedded.
  Token:    --token-stdin, --token, IMAGE_SKILL_TOKEN, IMAGE_SKILL_HOSTED_TOKEN,
            the saved config (only if it was saved for this same API base).
"""

from __future__ import annotations

import os
import sys
from argparse import Namespace
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from image_skill.cli.config import load_config
from image_skill.contract.errors import ImageSkillError, flag_required, invalid_arguments

if TYPE_CHECKING:
    from image_skill.client import Client
    from image_skill.result import Result
    from image_skill.transport import Transport

TOKEN_ENV_VARS = ("IMAGE_SKILL_TOKEN", "IMAGE_SKILL_HOSTED_TOKEN")
BASE_ENV_VAR = "IMAGE_SKILL_API_BASE_URL"


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
    parts = urlsplit(url)
    try:
        has_host = bool(parts.hostname) and (parts.port or 0) >= 0
    except ValueError:  # a port that is not a number in range
        has_host = False
    if not has_host:
        raise invalid_arguments(
            "--api-base-url needs a host name and, if any, a numeric port.", field="api_base_url"
        )
    return url


@dataclass(frozen=True)
class FixedService:
    """A service and credentials given outright, for a context that must not look around.

    The CLI bridge (``POST /v1/cli``) runs commands inside the server: their
    context must use the caller's token and the server's own app, and never
    the server's config file, environment tokens or stdin.
    """

    base_url: str
    token: str | None
    transport: Transport


class Context:
    """What one CLI invocation knows about its service and credentials."""

    def __init__(self, args: Namespace, command: str, *, fixed: FixedService | None = None) -> None:
        self.args = args
        self.command = command
        self.json = bool(getattr(args, "json", False))
        self.warnings: list[str] = []
        self._client: Client | None = None
        self._transport: Transport | None = None
        self.config: dict[str, Any] = {}
        if fixed is None:
            self.config = load_config()
            self.base_url, self.base_source = self._resolve_base()
            self.token, self.token_source = self._resolve_token()
            return
        self.json = True
        self.base_url, self.base_source = normalize_base(fixed.base_url), "fixed"
        self.token = fixed.token
        self.token_source = "fixed" if fixed.token is not None else "none"
        self._transport = fixed.transport

    def _resolve_base(self) -> tuple[str | None, str]:
        flag = getattr(self.args, "api_base_url", None)
        if flag:
            return normalize_base(flag), "flag"
        env = os.environ.get(BASE_ENV_VAR)
        if env:
            return normalize_base(env), "env"
        saved = self.config.get("api_base_url")
        if isinstance(saved, str) and saved:
            try:
                return normalize_base(saved), "config"
            except ImageSkillError:
                # A broken config must not lock the user out of `auth logout`.
                self.warnings.append("The saved config has an invalid api_base_url; ignored.")
        return None, "embedded"

    def _resolve_token(self) -> tuple[str | None, str]:
        if getattr(self.args, "token_stdin", False):
            line = sys.stdin.readline().strip()
            if not line:
                raise invalid_arguments("--token-stdin was given but stdin held no token.")
            return line, "stdin"
        flag = getattr(self.args, "token", None)
        if flag:
            self.warnings.append(
                "A token on the command line can leak through process listings; "
                "prefer --token-stdin or IMAGE_SKILL_TOKEN."
            )
            return flag.strip(), "flag"
        for name in TOKEN_ENV_VARS:
            value = os.environ.get(name)
            if value and value.strip():
                return value.strip(), "env"
        saved = self.config.get("token")
        if isinstance(saved, str) and saved and self._config_matches_base():
            return saved, "config"
        return None, "none"

    def _config_matches_base(self) -> bool:
        # A token saved for one service is never sent to another one; a config that
        # does not say which service its token belongs to (hand-written) is sent nowhere.
        if "api_base_url" not in self.config:
            return False
        return normalize_base(self.config.get("api_base_url")) == self.base_url

    @property
    def mode(self) -> str:
        """``embedded`` (in-process service) or ``server`` (an API base URL is set)."""
        return "embedded" if self.base_url is None else "server"

    def client(self) -> Client:
        """The SDK client for this invocation (created on first use)."""
        if self._client is None:
            from image_skill.client import Client

            self._client = Client(
                self.base_url, self.token, command=self.command, transport=self._transport
            )
        return self._client

    def explain(self, result: Result) -> Result:
        """``result``, with AUTH_INVALID saying so when a token from the environment went to
        the embedded service (a server's token is set but not the server's URL)."""
        error = result.error
        if (
            error is None
            or error.get("code") != "AUTH_INVALID"
            or self.mode != "embedded"
            or self.token_source != "env"
        ):
            return result
        error["message"] = (
            f"{error.get('message', '')} The CLI is in embedded mode (no server URL is set), so "
            f"{self._token_variable()} went to its local service. For a server's token, set "
            f"{BASE_ENV_VAR}=https://HOST (or pass --api-base-url); for embedded mode, unset "
            "the token."
        ).strip()
        error["recovery"] = {
            **(error.get("recovery") or {}),
            "required_flag": "--api-base-url",
            "suggested_command": "image-skill doctor --api-base-url URL --json",
        }
        return result

    def _token_variable(self) -> str:
        return next((name for name in TOKEN_ENV_VARS if os.environ.get(name, "").strip()), "")

    def close(self) -> None:
        """Release the client (and stop an embedded service)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def require(self, value: Any, flag: str) -> Any:
        """``value`` or INVALID_ARGUMENTS naming the missing flag."""
        if value is None or value == "":
            raise flag_required(f"{flag} is required.", flag)
        return value
