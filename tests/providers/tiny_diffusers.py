"""Builds a tiny, randomly initialised Stable Diffusion pipeline and saves it to disk.

Nothing can be downloaded in tests, so every component is made here: a UNet and
a VAE of a few megabytes each, a five-layer CLIP text encoder, and a CLIP
tokenizer whose vocabulary is the 256 byte symbols (no merges, so each word is
spelled out symbol by symbol). The weights come from a fixed torch seed, so the
saved directory is the same on every run. ``local.diffusers`` then loads it the
way it loads a real model.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

SEED = 0
NATIVE_SIZE = 64  # UNet sample_size 32 x the VAE's downscale factor 2
START, END = "<|startoftext|>", "<|endoftext|>"


def _byte_symbols() -> list[str]:
    """The 256 printable symbols byte-level BPE uses for the bytes 0..255 (GPT-2's table)."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    extra = iter(range(256, 512))
    return [chr(b) if b in printable else chr(next(extra)) for b in range(256)]


def _write_tokenizer_files(directory: Path) -> None:
    """``vocab.json`` (specials, then each symbol alone and word-final) and empty ``merges.txt``."""
    symbols = _byte_symbols()
    tokens = [START, END, *symbols, *(symbol + "</w>" for symbol in symbols)]
    vocab = {token: index for index, token in enumerate(tokens)}
    (directory / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (directory / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")


def build_tiny_pipeline(target: Path) -> Path:
    """Save a tiny StableDiffusionPipeline under ``target`` and return ``target``."""
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(SEED)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        norm_num_groups=16,
    )
    vae = AutoencoderKL(
        block_out_channels=(32, 64),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        norm_num_groups=16,
        sample_size=NATIVE_SIZE,
    )
    with tempfile.TemporaryDirectory() as source:
        _write_tokenizer_files(Path(source))
        tokenizer = CLIPTokenizer.from_pretrained(source, model_max_length=77)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=5,
            max_position_embeddings=77,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    pipeline = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.save_pretrained(target)
    return target
