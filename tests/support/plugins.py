"""The counting provider plugin (``tests/plugins/counting_provider.py``), in-process and
in a server subprocess.

The service loads extra plugins from the modules named in ``IMAGE_SKILL_PLUGINS``;
a server subprocess finds this one through ``PYTHONPATH``. In-process, the cached
model table is cleared so the next app built sees the plugin's models.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import pytest

from image_skill.providers.plugins import default_models

REPO_ROOT = Path(__file__).resolve().parents[2]
PLUGIN = "tests.plugins.counting_provider"
CALL_LOG_ENV = "IMAGE_SKILL_TEST_CALL_LOG"
CREATE_CAPABILITY = "is.image.generate.preview.v1"


def install_counting_plugin(monkeypatch: pytest.MonkeyPatch, call_log: Path) -> ModuleType:
    """Make the test models part of every app built from now on; returns the plugin module.

    The caller must ``default_models.cache_clear()`` again when done (see ``counting``).
    """
    monkeypatch.setenv("IMAGE_SKILL_PLUGINS", PLUGIN)
    monkeypatch.setenv(CALL_LOG_ENV, str(call_log))
    module = importlib.import_module(PLUGIN)
    module.reset()
    default_models.cache_clear()
    return module


@contextmanager
def counting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ModuleType]:
    """The plugin installed for the duration of the block; the model cache reset after."""
    try:
        yield install_counting_plugin(monkeypatch, tmp_path / "provider-calls.log")
    finally:
        default_models.cache_clear()


def plugin_env(call_log: Path, **settings: int) -> dict[str, str]:
    """Server env that loads the counting provider and logs its calls to ``call_log``."""
    pythonpath = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p)
    env = {
        "PYTHONPATH": pythonpath,
        "IMAGE_SKILL_PLUGINS": PLUGIN,
        CALL_LOG_ENV: str(call_log),
    }
    env.update({f"IMAGE_SKILL_{name.upper()}": str(value) for name, value in settings.items()})
    return env


def provider_calls(call_log: Path) -> list[tuple[str, str, str]]:
    """``(model_id, operation, job_id)`` of every provider call the server made."""
    if not call_log.exists():
        return []
    return [
        (parts[0], parts[1], parts[2])
        for parts in (line.split() for line in call_log.read_text().splitlines())
    ]
