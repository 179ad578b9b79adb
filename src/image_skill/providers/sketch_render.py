"""``local.sketch``: a deterministic, offline procedural renderer.

This is *not* a generative model. It is an honest stand-in that needs no network
and no weights: it turns a prompt into a pleasant abstract composition (a gradient
background with layered translucent shapes) whose palette and layout are derived
from a hash of the prompt and seed. The prompt text itself is never drawn into the
image.

The same ``(prompt, seed, width, height, output_format, quality)`` always yields
byte-identical output with the same Pillow build.
"""

from __future__ import annotations

import hashlib
import random
import re

from PIL import ImageDraw

from image_skill.providers.image_output import (
    MAX_SIDE,
    MIN_SIDE,
    RenderedImage,
    check_quality,
    encode_image,
    normalize_format,
)
from image_skill.providers.sketch_shapes import (
    Color,
    draw_bands,
    draw_blocks,
    draw_focal_disc,
    draw_orbs,
    draw_shards,
    gradient,
    jitter,
)

__all__ = ["render_sketch"]

# --------------------------------------------------------------------------- palettes


def _hex(code: str) -> Color:
    return (int(code[0:2], 16), int(code[2:4], 16), int(code[4:6], 16))


_PALETTES: dict[str, tuple[Color, ...]] = {
    name: tuple(_hex(c) for c in codes.split())
    for name, codes in {
        "sunset": "2b1055 7597de ff7e5f feb47b ffd194",
        "ocean": "03045e 0077b6 00b4d8 90e0ef caf0f8",
        "forest": "1b4332 2d6a4f 52b788 95d5b2 d8f3dc",
        "night": "0b0c2a 1d2951 3e4a89 a3a8f0 f6f1d1",
        "fire": "370617 9d0208 dc2f02 f48c06 ffba08",
        "desert": "6b4226 b5835a e0a96d f2d0a4 fbe7c6",
        "ice": "e0fbfc c2dfe3 9db4c0 5c6b73 253237",
        "candy": "ff99c8 fcf6bd d0f4de a9def9 e4c1f9",
        "autumn": "582f0e 7f4f24 936639 a68a64 d4a373",
        "neon": "0d0221 261447 ff2a6d 05d9e8 d1f7ff",
        "pastel": "f7d6e0 eff7f6 b2f7ef 7bdff2 cdb4db",
        "noir": "0a0a0a 2b2b2b 595959 a6a6a6 ededed",
        "meadow": "386641 6a994e a7c957 f2e8cf bc4749",
        "lagoon": "264653 2a9d8f e9c46a f4a261 e76f51",
        "berry": "3d0c45 6b2d5c a4508b f0a6ca f9e0ec",
        "dawn": "355070 6d597a b56576 e56b6f eaac8b",
    }.items()
}

_KEYWORDS: dict[str, str] = {}
for _palette, _words in {
    "sunset": "sunset sundown dusk evening golden sun",
    "ocean": "ocean sea water wave waves beach underwater blue river lake",
    "forest": "forest tree trees jungle woods leaf leaves green plant garden",
    "night": "night space star stars galaxy moon cosmic midnight sky",
    "fire": "fire flame flames lava volcano dragon red hot",
    "desert": "desert sand dune dunes canyon savanna dry",
    "ice": "ice snow winter frost frozen glacier arctic cold mountain mountains",
    "candy": "candy sweet cute kawaii toy dessert",
    "autumn": "autumn fall coffee wood rustic vintage brown",
    "neon": "neon cyberpunk cyber synthwave futuristic city robot",
    "pastel": "pastel soft dreamy calm gentle",
    "noir": "noir monochrome grayscale greyscale shadow dark black white",
    "meadow": "meadow field flower flowers spring farm",
    "lagoon": "tropical island summer lagoon retro",
    "berry": "berry purple violet grape magic fantasy",
    "dawn": "dawn morning sunrise warm",
}.items():
    for _word in _words.split():
        _KEYWORDS.setdefault(_word, _palette)

_WORD_RE = re.compile(r"[a-z0-9]+")


def _seed_material(prompt: str, seed: int | None) -> bytes:
    if seed is None:
        material = "local.sketch\x00prompt-only\x00" + prompt
    else:
        material = f"local.sketch\x00seed={int(seed)}\x00" + prompt
    return hashlib.sha256(material.encode("utf-8")).digest()


def _validate_side(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer between {MIN_SIDE} and {MAX_SIDE}")
    if not MIN_SIDE <= value <= MAX_SIDE:
        raise ValueError(f"{name} must be between {MIN_SIDE} and {MAX_SIDE} pixels")
    return value


def render_sketch(
    prompt: str,
    *,
    seed: int | None,
    width: int,
    height: int,
    output_format: str = "png",
    quality: int | None = None,
) -> RenderedImage:
    """Render a deterministic abstract composition for ``prompt``.

    ``seed=None`` derives the layout from the prompt alone. Raises ``ValueError`` for
    sizes outside ``[16, 4096]``, unknown formats or a quality outside ``[1, 100]``.
    """
    if not isinstance(prompt, str):
        raise ValueError("prompt must be a string")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise ValueError("seed must be an integer or None")
    w = _validate_side("width", width)
    h = _validate_side("height", height)
    fmt = normalize_format(output_format)
    check_quality(quality)

    rng = random.Random(_seed_material(prompt, seed))
    words = _WORD_RE.findall(prompt.lower())

    # Palette: first recognised keyword wins, otherwise picked by hash.
    names = sorted(_PALETTES)
    keyword_palettes = [_KEYWORDS[word] for word in words if word in _KEYWORDS]
    palette_name = keyword_palettes[0] if keyword_palettes else rng.choice(names)
    colors = list(_PALETTES[palette_name])
    if len(keyword_palettes) > 1 and keyword_palettes[1] != palette_name:
        # A second theme word contributes a couple of accent colours.
        colors += rng.sample(_PALETTES[keyword_palettes[1]], 2)
    rng.shuffle(colors)

    # Background: 2-3 stop gradient from the darker/lighter ends of the palette.
    by_luma = sorted(colors, key=lambda c: 299 * c[0] + 587 * c[1] + 114 * c[2])
    stops = [jitter(rng, by_luma[0], 10), jitter(rng, by_luma[-1], 10)]
    if rng.random() < 0.5:
        stops.reverse()
    if rng.random() < 0.6:
        stops.insert(1, jitter(rng, by_luma[len(by_luma) // 2], 10))
    image = gradient((w, h), stops, vertical=rng.random() < 0.75)
    draw = ImageDraw.Draw(image, "RGBA")

    # Shape counts grow gently with prompt length; total primitives stay <= ~40.
    richness = min(len(words), 16)
    total = 10 + richness + rng.randint(0, 8)
    styles = ["orbs", "blocks", "shards", "bands"]
    primary = styles[(len(words) + rng.randint(0, 3)) % len(styles)]
    secondary = rng.choice([s for s in styles if s != primary])

    if rng.random() < 0.6:
        draw_focal_disc(draw, rng, w, h, by_luma[-1])
        total -= 2

    painters = {
        "orbs": draw_orbs,
        "blocks": draw_blocks,
        "shards": draw_shards,
        "bands": draw_bands,
    }
    primary_n = total * 2 // 3
    secondary_n = total - primary_n
    # Bands cover large areas; keep their count modest and draw them last (foreground).
    order = [(primary, primary_n), (secondary, secondary_n)]
    order.sort(key=lambda item: item[0] == "bands")
    for style, count in order:
        painters[style](draw, rng, w, h, colors, min(count, 5) if style == "bands" else count)

    return encode_image(image, fmt, quality)
