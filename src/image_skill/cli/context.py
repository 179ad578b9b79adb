"""Per-invocation state: which service, which token, and the SDK client.

Which service and token is decided by :mod:`image_skill.connection`, the same
resolver ``Client()`` uses, so the CLI and the SDK always agree.
"""

from __future__ import annotations

import os

from image_skill.connection import (
    BASE_ENV_VAR,
    TOKEN_ENV_VARS,
    load_config,
    normalize_base,
    resolve_base,
    resolve_token,
)
from image_skill.contract.errors import flag_required

# Not ``typing.TYPE_CHECKING``: every CLI call imports this module, and ``typing``
# (or ``argparse``, ``dataclasses``) would cost it milliseconds (mypy reads the block).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from argparse import Namespace
    from typing import Any

    from image_skill.client import Client
    from image_skill.result import Result
    from image_skill.transport import Transport


class FixedService:
    """A service and credentials given outright, for a context that must not look around.

    The CLI bridge (``POST /v1/cli``) runs commands inside the server: their
    context must use the caller's token and the server's own app, and never
    the server's config file, environment tokens or stdin.
    """

    __slots__ = ("base_url", "token", "transport")

    def __init__(self, base_url: str, token: str | None, transport: Transport) -> None:
        self.base_url = base_url
        self.token = token
        self.transport = transport


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
        return resolve_base(self.config, self.warnings, flag=flag)

    def _resolve_token(self) -> tuple[str | None, str]:
        return resolve_token(
            self.base_url,
            self.config,
            self.warnings,
            flag=getattr(self.args, "token", None),
            from_stdin=bool(getattr(self.args, "token_stdin", False)),
        )

    @property
    def mode(self) -> str:
        """``embedded`` (in-process service) or ``server`` (an API base URL is set)."""
        return "embedded" if self.base_url is None else "server"

    def client(self) -> Client:
        """The SDK client for this invocation (created on first use)."""
        if self._client is None:
            from image_skill.client import Client

            if self._transport is None and self.base_url is None:
                # Embedded: the warm local daemon when it can be used, else in-process.
                from image_skill.daemon.launcher import local_transport

                self._transport = local_transport()
            self._client = Client(
                self.base_url, self.token, command=self.command, transport=self._transport
            )
        return self._client

    def explain(self, result: Result) -> Result:
        """``result``, with AUTH_INVALID saying so when a token given to this command went to
        the embedded service (a server's token, but no server URL)."""
        error = result.error
        given = self._token_origin()
        if error is None or error.get("code") != "AUTH_INVALID" or self.mode != "embedded":
            return result
        if given is None:
            return result
        error["message"] = (
            f"{error.get('message', '')} The CLI is in embedded mode (no server URL is set), so "
            f"{given} went to its local service. For a server's token, set "
            f"{BASE_ENV_VAR}=https://HOST (or pass --api-base-url); for embedded mode, drop "
            "the token."
        ).strip()
        error["recovery"] = {
            **(error.get("recovery") or {}),
            "required_flag": "--api-base-url",
            "suggested_command": "image-skill doctor --api-base-url URL --json",
        }
        return result

    def _token_origin(self) -> str | None:
        """How the token reached this command, if it was given to it (not a saved one)."""
        if self.token_source == "env":
            return next(n for n in TOKEN_ENV_VARS if os.environ.get(n, "").strip())
        return {"flag": "the --token value", "stdin": "the token from stdin"}.get(self.token_source)

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
