"""An API base URL split without ``urllib.parse`` in the common case.

``urllib.parse`` imports ``ipaddress`` and builds its named tuples when it is
imported: milliseconds of every hosted CLI call, which needs only the scheme,
host, port and path of ``http(s)://host[:port][/prefix]``. ``split_base`` reads
that plain shape with one regular expression and hands anything else (IPv6
literals, user info, a query, unusual characters) to ``urlsplit``, so its
answer is always the one ``urlsplit`` gives.
"""

from __future__ import annotations

import re

_PLAIN = re.compile(
    r"(?P<scheme>https?)://(?P<netloc>(?P<host>[A-Za-z0-9.-]+)(?::(?P<port>[0-9]{1,5}))?)"
    r"(?P<path>/[A-Za-z0-9._~/-]*)?"
)


class BaseParts:
    """What ``urlsplit`` says of a base URL: scheme, netloc, hostname, port and path."""

    __slots__ = ("hostname", "netloc", "path", "port", "scheme")

    def __init__(
        self, scheme: str, netloc: str, hostname: str | None, port: int | None, path: str
    ) -> None:
        self.scheme = scheme
        self.netloc = netloc
        self.hostname = hostname
        self.port = port
        self.path = path


def split_base(url: str) -> BaseParts:
    """``url`` split as ``urlsplit`` splits it; ValueError where its ``port`` would raise."""
    plain = _PLAIN.fullmatch(url)
    if plain is None:
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        return BaseParts(parts.scheme, parts.netloc, parts.hostname, parts.port, parts.path)
    port = None if plain["port"] is None else int(plain["port"])
    if port is not None and port > 65535:
        raise ValueError("Port out of range 0-65535")
    host = plain["host"].lower()
    return BaseParts(plain["scheme"], plain["netloc"], host, port, plain["path"] or "")
