"""The daemon's fingerprint: what restarts the embedded daemon, and what must not."""

from __future__ import annotations

import pytest

from image_skill.daemon.files import enabled, fingerprint


def test_service_settings_and_provider_keys_change_it(monkeypatch: pytest.MonkeyPatch) -> None:
    before = fingerprint()
    monkeypatch.setenv("IMAGE_SKILL_CREATE_WAIT_SECONDS", "42")
    with_setting = fingerprint()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-fingerprint")
    assert len({before, with_setting, fingerprint()}) == 3


def test_cli_only_variables_do_not(monkeypatch: pytest.MonkeyPatch) -> None:
    before = fingerprint()
    monkeypatch.setenv("IMAGE_SKILL_TOKEN", "isk_r_" + "a" * 38)
    monkeypatch.setenv("IMAGE_SKILL_DEBUG", "1")
    monkeypatch.setenv("IMAGE_SKILL_EMBEDDED_DAEMON", "1")
    monkeypatch.setenv("PWD", "/somewhere/else")
    assert fingerprint() == before


@pytest.mark.parametrize(
    ("value", "on"), [("", True), ("1", True), ("0", False), ("false", False), ("OFF", False)]
)
def test_the_switch(monkeypatch: pytest.MonkeyPatch, value: str, on: bool) -> None:
    monkeypatch.setenv("IMAGE_SKILL_EMBEDDED_DAEMON", value)
    assert enabled() is on
