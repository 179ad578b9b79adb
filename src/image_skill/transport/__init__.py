"""How the SDK reaches the service: over HTTP, or in-process (embedded mode).

Plain slotted classes and no ``typing`` at run time: the hosted CLI imports this
on every call, and ``dataclasses``/``typing`` would cost it milliseconds.
"""

from __future__ import annotations

# Not ``typing.TYPE_CHECKING`` (see above); mypy still reads the block.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Protocol

    class Transport(Protocol):
        """Sends one request; raises ``TransportError`` when no answer came back."""

        description: str

        def send(
            self, method: str, path: str, *, headers: dict[str, str], body: bytes | None
        ) -> RawResponse: ...

        def close(self) -> None: ...


class RawResponse:
    """Status, lower-cased headers and body bytes of one exchange."""

    __slots__ = ("body", "headers", "status")

    def __init__(
        self, status: int, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> None:
        self.status = status
        self.headers: dict[str, str] = {} if headers is None else headers
        self.body = body

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RawResponse):
            return NotImplemented
        return (self.status, self.headers, self.body) == (other.status, other.headers, other.body)

    def __repr__(self) -> str:
        return f"RawResponse(status={self.status}, headers={self.headers!r}, body={self.body!r})"


class TransportError(Exception):
    """The request never got an HTTP answer (refused, reset, DNS, timeout)."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


def describe(value: Any) -> str:
    """A short, secret-free description of a transport failure."""
    return type(value).__name__
