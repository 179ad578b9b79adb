"""One module per command group; ``register_all`` wires them into the parser."""

from __future__ import annotations

from image_skill.cli.parser import Registrar


def register_all(reg: Registrar) -> None:
    """Register every command, in the order help lists them."""
    from image_skill.cli.commands import (
        assets_jobs,
        auth,
        catalog,
        creative,
        credits,
        doctor,
        identity,
        meta,
        pending,
        serve,
    )

    for module in (
        meta,
        doctor,
        identity,
        auth,
        catalog,
        creative,
        assets_jobs,
        credits,
        pending,
        serve,
    ):
        module.register(reg)
