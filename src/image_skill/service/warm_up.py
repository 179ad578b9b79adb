"""Imports a long-running server does before its first request.

The CLI's embedded mode defers heavy imports (a provider SDK alone can take
0.7 s) until a call needs them. A server must not: an import on the event
loop stalls every request in flight. So at start-up it imports, off the loop,
what any configured model and the request path will need.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from image_skill.providers.base import Model

# Deferred by the service itself (see catalog.parameters).
SERVICE_MODULES = ("jsonschema",)


def modules_to_warm(models: Mapping[str, Model]) -> list[str]:
    """The service's deferred modules plus the SDKs of the models configured here."""
    names = set(SERVICE_MODULES)
    for model in models.values():
        if model.sdk_modules and model.availability().configured:
            names.update(model.sdk_modules)
    return sorted(names)


def warm_up(models: Mapping[str, Model]) -> None:
    """Import everything ``modules_to_warm`` lists (blocking: run it in a thread)."""
    for name in modules_to_warm(models):
        importlib.import_module(name)
