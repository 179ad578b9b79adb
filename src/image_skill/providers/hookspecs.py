"""The plugin hook: ``register_providers(register)``, called once per registry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

PROJECT = "image_skill"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_providers(register: Callable[[Any], None]) -> None:
    """Call ``register(model)`` for every model this plugin provides."""
