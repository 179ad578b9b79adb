"""How the SDK reaches the service: over HTTP, or in-process (embedded mode)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class RawResponse:
    """Status, lower-cased headers and body bytes of one exchange."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


class TransportError(Exception):
    """The request never got an HTTP answer (refused, reset, DNS, timeout)."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class Transport(Protocol):
    """Sends one request; raises ``TransportError`` when no answer came back."""

    description: str

    def send(
        self, method: str, path: str, *, headers: dict[str, str], body: bytes | None
    ) -> RawResponse: ...

    def close(self) -> None: ...


def describe(value: Any) -> str:
    """A short, secret-free description of a transport failure."""
    return type(value).__name__
