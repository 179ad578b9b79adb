"""Imports a long-running server does before its first request.

The CLI's embedded mode defers heavy imports (a provider SDK alone can take
0.7 s; the page templates, Stripe's SDK and the queue libraries together
another ~0.3 s) until a call needs them. A server must not: an import on the
event loop stalls every request in flight. So at start-up it imports, off the
loop, what any configured model and the request path will need.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

from image_skill.providers.base import Model
from image_skill.service.settings import Settings

# Deferred by the service itself (see catalog.parameters, console.pages, claims.pages).
SERVICE_MODULES = ("jsonschema", "jinja2")


def modules_to_warm(models: Mapping[str, Model], settings: Settings | None = None) -> list[str]:
    """The service's deferred modules, the SDKs of the models configured here, and
    Stripe's SDK when ``settings`` configure payments."""
    names = set(SERVICE_MODULES)
    for model in models.values():
        if model.sdk_modules and model.availability().configured:
            names.update(model.sdk_modules)
    if settings is not None and (settings.stripe_secret_key or settings.stripe_webhook_secret):
        names.add("stripe")
    return sorted(names)


def warm_up(models: Mapping[str, Model], settings: Settings | None = None) -> None:
    """Import everything ``modules_to_warm`` lists (blocking: run it in a thread)."""
    for name in modules_to_warm(models, settings):
        importlib.import_module(name)
