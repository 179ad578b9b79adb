"""``models`` and ``capabilities``: the public creative catalog (no token needed)."""

from __future__ import annotations

from argparse import Namespace
from typing import Any

from image_skill.cli.context import Context
from image_skill.cli.output import HUMAN_RENDERERS, render_human
from image_skill.cli.parser import Registrar
from image_skill.result import Result


def register(reg: Registrar) -> None:
    """Add the catalog commands."""
    reg.listed_group(
        "models",
        "Creative models and their parameter schemas.",
        run_models_list,
        "List the public models.",
    )
    show = reg.command("models show", run_model_show, "Show one model's full schema.")
    show.add_argument("model_id", metavar="MODEL_ID", help="e.g. openai.gpt-image-2")
    reg.listed_group(
        "capabilities", "The capability catalog.", run_capabilities_list, "List the capabilities."
    )
    cap = reg.command("capabilities show", run_capability_show, "Show one capability.")
    cap.add_argument("capability_id", metavar="CAPABILITY_ID", help="a capability id")
    HUMAN_RENDERERS["image-skill models list"] = render_models
    HUMAN_RENDERERS["image-skill capabilities list"] = render_capabilities


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


def render_models(data: Any) -> str:
    """One line per model: id, operations, credits per image, and ready or what is missing."""
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, list):
        return render_human(data)
    lines = []
    for model in models:
        if not isinstance(model, dict):
            continue
        pricing = (model.get("cost") or {}).get("credit_pricing") or {}
        price = _price(pricing.get("credits_required"), pricing.get("pricing_confidence"))
        availability = model.get("availability") or {}
        state = (
            "ready"
            if availability.get("configured", True)
            else f"not configured: {availability.get('how_to_enable') or 'see models show'}"
        )
        operations = ",".join(model.get("operations") or [])
        lines.append(f"{model.get('model_id'):<26} {operations:<12} {price:<19} {state}")
    defaults = data.get("defaults") or {}
    if defaults:
        lines.append("defaults: " + ", ".join(f"{op} {model}" for op, model in defaults.items()))
    for op, reason in (data.get("default_reason") or {}).items():
        if isinstance(reason, dict):
            lines.append(f"  {op} default is {reason.get('model_id')}: {reason.get('message')}")
    lines.append("next: image-skill models show MODEL_ID (parameters, sizes, pricing)")
    return "\n".join(lines)


def render_capabilities(data: Any) -> str:
    """A few lines per capability (its models and control names); schemas only with --json."""
    capabilities = data.get("capabilities") if isinstance(data, dict) else None
    if not isinstance(capabilities, list):
        return render_human(data)
    lines = []
    for capability in capabilities:
        if not isinstance(capability, dict):
            continue
        lines.append(
            f"{capability.get('capability_id')}  ({capability.get('operation')}: "
            f"{capability.get('command')})  {capability.get('summary') or ''}".rstrip()
        )
        models = [
            f"{model.get('model_id')}{'' if model.get('configured', True) else ' (off)'}"
            for model in capability.get("models") or []
            if isinstance(model, dict)
        ]
        if models:
            lines.append("  models: " + ", ".join(models))
        controls = capability.get("normalized_controls") or {}
        if isinstance(controls, dict) and controls:
            lines.append("  controls: " + ", ".join(controls))
    lines.append(
        "next: image-skill capabilities show ID, or --json for every schema "
        "(model parameters: image-skill models show MODEL_ID)"
    )
    return "\n".join(lines)


def _price(credits: Any, confidence: Any) -> str:
    """Credits per image, marked when estimated or when only a hold is known."""
    if credits is None:
        return "price unknown"
    if confidence == "unknown":
        return f"unknown (holds {credits})"
    return f"{'~' if confidence == 'estimated' else ''}{credits} credits/image"
