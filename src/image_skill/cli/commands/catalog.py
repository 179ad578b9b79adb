"""``models`` and ``capabilities``: the public creative catalog (no token needed)."""

from __future__ import annotations

from argparse import Namespace

from image_skill.cli.context import Context
from image_skill.cli.parser import Registrar
from image_skill.client import Result


def register(reg: Registrar) -> None:
    """Add the catalog commands."""
    reg.group(
        "models",
        "Creative models and their parameter schemas.",
        default=run_models_list,
        default_words="models list",
    )
    reg.command("models list", run_models_list, "List the public models.")
    show = reg.command("models show", run_model_show, "Show one model's full schema.")
    show.add_argument("model_id", metavar="MODEL_ID", help="e.g. openai.gpt-image-2")
    reg.group(
        "capabilities",
        "The capability catalog.",
        default=run_capabilities_list,
        default_words="capabilities list",
    )
    reg.command("capabilities list", run_capabilities_list, "List the capabilities.")
    cap = reg.command("capabilities show", run_capability_show, "Show one capability.")
    cap.add_argument("capability_id", metavar="CAPABILITY_ID", help="a capability id")


def run_models_list(context: Context, _args: Namespace) -> Result:
    """The model catalog."""
    return context.client().models()


def run_model_show(context: Context, args: Namespace) -> Result:
    """One model."""
    return context.client().model(context.require(args.model_id.strip(), "MODEL_ID"))


def run_capabilities_list(context: Context, _args: Namespace) -> Result:
    """The capability catalog."""
    return context.client().capabilities()


def run_capability_show(context: Context, args: Namespace) -> Result:
    """One capability."""
    return context.client().capability(context.require(args.capability_id.strip(), "CAPABILITY_ID"))
