"""Loads provider plugins: built-ins, entry points (group ``image_skill``), and
modules named in ``IMAGE_SKILL_PLUGINS`` (comma-separated), all through one hook.
"""

from __future__ import annotations

import importlib
import os
from functools import cache

import pluggy

from image_skill.providers import hookspecs
from image_skill.providers.base import Model

BUILTIN_PLUGINS = (
    "image_skill.providers.local_sketch",
    "image_skill.providers.local_transform",
    "image_skill.providers.local_diffusers",
    "image_skill.providers.openai_images",
    "image_skill.providers.xai_images",
    "image_skill.providers.fal_images",
)


def plugin_manager() -> pluggy.PluginManager:
    """A manager with every plugin loaded."""
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    for name in BUILTIN_PLUGINS:
        manager.register(importlib.import_module(name), name=name)
    manager.load_setuptools_entrypoints(hookspecs.PROJECT)
    for name in filter(
        None, (n.strip() for n in os.environ.get("IMAGE_SKILL_PLUGINS", "").split(","))
    ):
        if manager.get_plugin(name) is None:
            manager.register(importlib.import_module(name), name=name)
    return manager


def collect_models() -> dict[str, Model]:
    """Every registered model by id (a duplicate id is a plugin bug and fails loudly)."""
    models: dict[str, Model] = {}

    def register(model: Model) -> None:
        if model.model_id in models:
            raise ValueError(f"model id registered twice: {model.model_id}")
        models[model.model_id] = model

    plugin_manager().hook.register_providers(register=register)
    return models


@cache
def default_models() -> dict[str, Model]:
    """The process-wide model table (plugins are loaded once)."""
    return collect_models()
