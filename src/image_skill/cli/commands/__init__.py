"""One module per command group; ``register_all`` wires them into the parser."""

from __future__ import annotations

from image_skill.cli.parser import Registrar


def register_all(reg: Registrar) -> None:
    """Register every command, in the order help lists them."""
    from image_skill.cli.commands import (
        activity,
        admin,
        assets_jobs,
        auth,
        catalog,
        claim,
        creative,
        credits,
        doctor,
        feedback,
        guide,
        identity,
        jobs,
        mcp,
        meta,
        serve,
        webhooks,
        worker,
    )

    for module in (
        meta,
        guide,
        doctor,
        identity,
        claim,
        auth,
        catalog,
        creative,
        assets_jobs,
        jobs,
        credits,
        activity,
        feedback,
        webhooks,
        serve,
        worker,
        mcp,
        admin,
    ):
        module.register(reg)
