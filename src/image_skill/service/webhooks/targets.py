"""Where a webhook may be sent: public https targets only, checked again at every delivery.

An agent chooses the URL, so without checks the service would POST, on the
agent's behalf, to anything the server can reach: its own loopback ports, the
cloud metadata address (169.254.169.254), databases on the private network. A
target therefore has to be https, carry no credentials, and resolve only to
publicly routable addresses (an IPv6 address that embeds an IPv4 one is judged
by the embedded address too). The check runs when the URL is accepted and again
before every attempt, and the attempt connects to the very address that was
checked, so a DNS answer that changes in between (DNS rebinding) cannot steer
the request elsewhere. ``IMAGE_SKILL_WEBHOOK_ALLOW_PRIVATE_TARGETS`` lifts the
address rules and allows plain http (tests, private deployments).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

import anyio

from image_skill.contract.errors import ErrorCode, ImageSkillError

MAX_URL_LENGTH = 2048
RESOLVE_TIMEOUT_SECONDS = 5.0

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Target:
    """A checked webhook URL and the addresses its host resolved to (all allowed)."""

    url: str
    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]

    def pinned(self, address: str) -> tuple[str, dict[str, str], dict[str, str]]:
        """The URL to request at ``address``, its Host header and the TLS name to verify."""
        host_header = _bracketed(self.host)
        if self.port != _DEFAULT_PORTS[self.scheme]:
            host_header = f"{host_header}:{self.port}"
        extensions = {"sni_hostname": self.host} if self.scheme == "https" else {}
        url = f"{self.scheme}://{_bracketed(address)}:{self.port}{self.path}"
        return url, {"host": host_header}, extensions


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def refused(reason: str, *, field: str = "webhook_url") -> ImageSkillError:
    """WEBHOOK_TARGET_REFUSED naming the field and why (never echoing the URL)."""
    return ImageSkillError(
        ErrorCode.WEBHOOK_TARGET_REFUSED,
        f"This webhook URL is refused: {reason}.",
        details={"field": field},
        recovery={"docs_url": "https://image-skill.com/docs/webhooks.md"},
    )


def check_url(url: str, *, allow_private: bool, field: str = "webhook_url") -> SplitResult:
    """The parts of ``url`` if its form is acceptable (no network); else WEBHOOK_TARGET_REFUSED."""
    if len(url) > MAX_URL_LENGTH:
        raise refused(f"it is longer than {MAX_URL_LENGTH} characters", field=field)
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise refused("it contains whitespace or control characters", field=field)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise refused("it is not a valid URL", field=field) from None
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes:
        raise refused("it must be an https:// URL", field=field)
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise refused("it must not carry a user name or password", field=field)
    if not parts.hostname:
        raise refused("it names no host", field=field)
    if port == 0:
        raise refused("port 0 is not a port", field=field)
    try:
        parts.hostname.encode("idna")
    except UnicodeError:
        raise refused("its host name is not valid", field=field) from None
    return parts


def address_refusal(address: IPAddress) -> str | None:
    """Why ``address`` may not receive webhooks, or None if it is publicly routable."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            # ::ffff:a.b.c.d is a.b.c.d on a dual-stack socket: judged as exactly that.
            return address_refusal(address.ipv4_mapped)
        embedded = address.sixtofour
        if embedded is None and address.teredo is not None:
            embedded = address.teredo[1]
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            reason = address_refusal(embedded)
            if reason is not None:
                return reason
    for flag, reason in (
        ("is_unspecified", "an unspecified address"),
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_private", "a private address"),
        ("is_reserved", "a reserved address"),
    ):
        if getattr(address, flag):
            return reason
    if not address.is_global:
        return "an address that is not publicly routable"
    return None


async def resolve_target(url: str, *, allow_private: bool, field: str = "webhook_url") -> Target:
    """Check ``url`` and every address its host resolves to; the checked target."""
    parts = check_url(url, allow_private=allow_private, field=field)
    host = parts.hostname or ""
    port = parts.port or _DEFAULT_PORTS[parts.scheme]
    addresses = await _resolve(host, port, field)
    if not allow_private:
        for address in addresses:
            reason = address_refusal(ipaddress.ip_address(address))
            if reason is not None:
                raise refused(f"its host resolves to {reason}", field=field)
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(url, parts.scheme, host, port, path, addresses)


async def _resolve(host: str, port: int, field: str) -> tuple[str, ...]:
    try:
        return (str(ipaddress.ip_address(host)),)
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        with anyio.fail_after(RESOLVE_TIMEOUT_SECONDS):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError, UnicodeError):
        raise refused("its host name could not be resolved", field=field) from None
    found: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        # Drop an IPv6 scope id ("fe80::1%eth0"): the address is judged without it.
        address = str(sockaddr[0]).split("%", 1)[0]
        if address not in found:
            found.append(address)
    if not found:
        raise refused("its host name could not be resolved", field=field)
    return tuple(found)
