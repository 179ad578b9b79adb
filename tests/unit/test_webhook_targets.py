"""Which webhook targets are refused, and when a failed delivery is tried again."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import anyio
import pytest

from image_skill.contract.errors import ImageSkillError
from image_skill.service.webhooks.delivery import BACKOFF_SECONDS, JITTER, next_attempt_at
from image_skill.service.webhooks.targets import address_refusal, check_url, resolve_target

REFUSED_ADDRESSES = [
    "127.0.0.1",
    "127.8.9.10",
    "0.0.0.0",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # carrier-grade NAT
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "ff02::1",
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "2002:7f00:1::1",  # 6to4 around 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "2001:db8::1",  # documentation
]
PUBLIC_ADDRESSES = ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", REFUSED_ADDRESSES)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", PUBLIC_ADDRESSES)
def test_public_addresses_are_allowed(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://example.com/hook", "https"),
        ("ftp://example.com/hook", "https"),
        ("https://user:pw@example.com/hook", "user name or password"),
        ("https://token@example.com/hook", "user name or password"),
        ("https:///nohost", "names no host"),
        ("https://example.com:99999/", "not a valid URL"),
        ("https://exa mple.com/", "whitespace"),
        ("https://example.com/\x00", "control"),
        ("https://example.com/" + "a" * 2048, "longer than 2048"),
    ],
)
def test_malformed_or_unsafe_urls_are_refused(url: str, why: str) -> None:
    with pytest.raises(ImageSkillError) as refused:
        check_url(url, allow_private=False)
    assert refused.value.code == "WEBHOOK_TARGET_REFUSED" and why in refused.value.message
    assert refused.value.details == {"field": "webhook_url"}
    assert url not in refused.value.message


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://localhost:8443/hook",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://0x7f000001/hook",  # 127.0.0.1 in hex, resolved by the system resolver
    ],
)
def test_hosts_resolving_to_private_addresses_are_refused(url: str) -> None:
    async def check() -> None:
        await resolve_target(url, allow_private=False)

    with pytest.raises(ImageSkillError) as refused:
        anyio.run(check)
    assert refused.value.code == "WEBHOOK_TARGET_REFUSED"
    assert "resolves to" in refused.value.message or "resolved" in refused.value.message


def test_the_private_switch_allows_loopback_and_plain_http() -> None:
    async def check() -> None:
        target = await resolve_target("http://127.0.0.1:8080/h?x=1", allow_private=True)
        assert target.addresses == ("127.0.0.1",)
        url, headers, extensions = target.pinned("127.0.0.1")
        assert (url, headers, extensions) == (
            "http://127.0.0.1:8080/h?x=1",
            {"host": "127.0.0.1:8080"},
            {},
        )

    anyio.run(check)


def test_https_connects_to_the_checked_address_and_verifies_the_name() -> None:
    async def check() -> None:
        target = await resolve_target("https://[2606:4700:4700::1111]/h", allow_private=False)
        url, headers, extensions = target.pinned("2606:4700:4700::1111")
        assert url == "https://[2606:4700:4700::1111]:443/h"
        assert headers == {"host": "[2606:4700:4700::1111]"}
        assert extensions == {"sni_hostname": "2606:4700:4700::1111"}

    anyio.run(check)


def test_retries_back_off_with_jitter_for_more_than_a_day_then_stop() -> None:
    created = datetime(2026, 1, 1, tzinfo=UTC)
    now, attempts, waits = created, 0, []
    while True:
        attempts += 1
        retry = next_attempt_at(attempts, created, now, 26 * 3600)
        if retry is None:
            break
        waits.append((retry - now).total_seconds())
        now = retry
    for wait, base in zip(waits, BACKOFF_SECONDS, strict=False):
        assert base * (1 - JITTER) <= wait <= base * (1 + JITTER)
    assert max(waits) <= 4 * 3600 * (1 + JITTER)
    assert now - created >= timedelta(hours=24), "retries last at least a day"
    assert now - created <= timedelta(hours=26)
    assert 10 <= attempts <= 20
