"""Loading and running the diffusers pipeline behind ``local.diffusers``.

torch, diffusers and transformers take seconds to import, so they are imported
here on the first generation, never for the catalog or the CLI. Weights come
from a local directory only: every load passes ``local_files_only`` and the
hub library is first imported in offline mode. One pipeline stays loaded per
process; its text-to-image and image-to-image forms share weights and a
scheduler (which keeps per-call state), so calls on it run one at a time.
"""

from __future__ import annotations

import inspect
import logging
import os
import threading
import warnings
from dataclasses import dataclass, field
from functools import cache
from typing import Any

log = logging.getLogger("image_skill.providers.diffusers")

MODEL_DIR_ENV = "IMAGE_SKILL_DIFFUSERS_MODEL_DIR"
DEVICE_ENV = "IMAGE_SKILL_DIFFUSERS_DEVICE"
DEVICES = ("auto", "cpu", "cuda", "mps")
FALLBACK_NATIVE_SIZE = 512


class PipelineUnavailable(Exception):
    """The configured directory or device cannot give a pipeline; names the variable to fix."""

    def __init__(self, message: str, variable: str) -> None:
        super().__init__(message)
        self.variable = variable


class Abandoned(Exception):
    """The caller stopped waiting (timeout or cancellation), so the run stopped early."""


@dataclass
class LoadedPipeline:
    """A text-to-image pipeline on its device, and its image-to-image form once needed."""

    text_to_image: Any
    device: str
    native_size: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    image_to_image: Any = None

    def for_operation(self, operation: str, diffusers: Any) -> Any:
        """The pipeline for ``operation`` (call with ``lock`` held)."""
        if operation == "create":
            return self.text_to_image
        if self.image_to_image is None:
            try:
                pipe = diffusers.AutoPipelineForImage2Image.from_pipe(self.text_to_image)
            except ValueError:
                raise PipelineUnavailable(
                    f"The pipeline named by {MODEL_DIR_ENV} has no image-to-image form.",
                    MODEL_DIR_ENV,
                ) from None
            pipe.set_progress_bar_config(disable=True)
            self.image_to_image = pipe
        return self.image_to_image


@cache
def libraries() -> tuple[Any, Any]:
    """torch and diffusers, imported with the hub offline and the libraries' chatter
    (progress bars, warnings that can carry local paths) turned down.

    First called under the slot lock, so the environment is changed by one thread.
    """
    previous = os.environ.get("HF_HUB_OFFLINE")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # read once, when huggingface_hub loads
    try:
        import torch
        import transformers

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
        import diffusers
        from diffusers.utils import logging as diffusers_logging

        diffusers_logging.set_verbosity_error()
        diffusers_logging.disable_progress_bar()
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"diffusers\.")
    finally:
        if previous is None:  # leave the process environment as we found it
            os.environ.pop("HF_HUB_OFFLINE", None)
    return torch, diffusers


def resolve_device(torch: Any, choice: str) -> str:
    """``auto``: CUDA, else Apple MPS, else CPU; an explicit device must exist here."""
    mps = getattr(torch.backends, "mps", None)
    present = {
        "cuda": torch.cuda.is_available(),
        "mps": mps is not None and mps.is_available(),
        "cpu": True,
    }
    if choice == "auto":
        return next(device for device, here in present.items() if here)
    if not present.get(choice, False):
        raise PipelineUnavailable(
            f"{DEVICE_ENV} asks for '{choice}', which this machine does not offer "
            f"(one of {', '.join(DEVICES)}).",
            DEVICE_ENV,
        )
    return choice


def _native_size(pipe: Any) -> int:
    """The long edge the pipeline renders when not told otherwise."""
    unet = getattr(pipe, "unet", None)
    sample = getattr(pipe, "default_sample_size", None) or (
        unet.config.sample_size if unet is not None else None
    )
    if isinstance(sample, list | tuple):
        sample = max(sample)
    scale = getattr(pipe, "vae_scale_factor", None) or 8
    return int(sample) * int(scale) if sample else FALLBACK_NATIVE_SIZE


def _load(torch: Any, diffusers: Any, directory: str, device: str) -> LoadedPipeline:
    dtype = torch.float16 if device == "cuda" else torch.float32
    try:
        pipe = diffusers.AutoPipelineForText2Image.from_pretrained(
            directory, torch_dtype=dtype, local_files_only=True
        )
    except Exception as exc:  # whatever the directory holds, it is not a usable pipeline
        log.warning("diffusers pipeline did not load", extra={"error_type": type(exc).__name__})
        raise PipelineUnavailable(
            f"{MODEL_DIR_ENV} does not name a loadable diffusers pipeline "
            "(a directory written by save_pretrained, with model_index.json).",
            MODEL_DIR_ENV,
        ) from None
    pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    return LoadedPipeline(pipe, device, _native_size(pipe))


class _Slot:
    """The one loaded pipeline of this process, replaced when the configuration changes."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.key: tuple[str, str] | None = None
        self.pipeline: LoadedPipeline | None = None


_SLOT = _Slot()


def load(directory: str, device_choice: str) -> LoadedPipeline:
    """The pipeline for ``directory`` on the chosen device, loaded once per process."""
    with _SLOT.lock:
        torch, diffusers = libraries()
        device = resolve_device(torch, device_choice)
        key = (os.path.realpath(directory), device)
        if _SLOT.pipeline is not None and _SLOT.key == key:
            return _SLOT.pipeline
        _SLOT.pipeline = None  # drop the old weights before loading new ones
        pipeline = _load(torch, diffusers, key[0], device)
        _SLOT.pipeline, _SLOT.key = pipeline, key
        return pipeline


def run(
    loaded: LoadedPipeline,
    operation: str,
    arguments: dict[str, Any],
    seed: int | None,
    abandoned: threading.Event,
) -> Any:
    """One pipeline call; stops between steps once ``abandoned`` is set."""
    torch, diffusers = libraries()

    def stop_if_abandoned(pipe: Any, step: int, timestep: Any, tensors: dict[str, Any]) -> Any:
        if abandoned.is_set():
            raise Abandoned
        return tensors

    with loaded.lock:
        if abandoned.is_set():
            raise Abandoned
        pipe = loaded.for_operation(operation, diffusers)
        call = dict(arguments)
        if seed is not None:
            # MPS generators are not reproducible across runs; seed on the CPU there.
            device = "cpu" if loaded.device == "mps" else loaded.device
            call["generator"] = torch.Generator(device=device).manual_seed(seed)
        if "callback_on_step_end" in inspect.signature(pipe.__call__).parameters:
            call["callback_on_step_end"] = stop_if_abandoned
        with torch.inference_mode():
            return pipe(**call, output_type="pil")
