"""``transport.urls.split_base`` answers as ``urllib.parse.urlsplit`` does, for any base URL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest

from image_skill.transport.urls import split_base

URLS = [
    "http://127.0.0.1:8080",
    "https://Image-Skill.Example/v1/",
    "http://h",
    "http://h:0",
    "http://h:080/x/y",
    "http://h:65535",
    "http://h:65536",
    "http://h:99999/x",
    "http://h:/p",
    "http://h:abc",
    "https://[::1]:443/x",
    "http://[::1",
    "http://user:pw@h:1/p",
    "http://h/p?q=1",
    "http://h/p#f",
    " http://h",
    "http://h\t/x",
    "http://h/a b",
    "http://h/%41",
    "http://bücher.example/",
    "http://",
    "http:///x",
]


def described(url: str, split: Callable[[str], Any]) -> tuple[object, ...]:
    """(scheme, netloc, hostname, path, port) of a split, or ("ValueError",) if it raises."""
    try:
        parts = split(url)
        port = parts.port
    except ValueError:
        return ("ValueError",)
    return (parts.scheme, parts.netloc, parts.hostname, parts.path, port)


@pytest.mark.parametrize("url", URLS)
def test_split_base_is_urlsplit(url: str) -> None:
    assert described(url, split_base) == described(url, urlsplit)
